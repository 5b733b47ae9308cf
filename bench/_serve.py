"""Start ``kpki serve`` for a benchmark and learn its port (shared by the benchmarks)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def kpki_serve(home: Path, *extra: str, nofile: int | None = None,
               command: Sequence[str] | None = None) -> Iterator[str]:
    """Run ``kpki --home HOME serve --port 0 EXTRA...`` (with at most ``nofile`` open
    files when given; ``command`` instead of the ``kpki`` script, e.g. a launcher that
    sets up the process first); yields its base URL."""
    def limit() -> None:
        if nofile is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    kpki = list(command) if command is not None else [str(Path(sys.executable).parent / "kpki")]
    server = subprocess.Popen([*kpki, "--home", str(home), "serve", "--port", "0", *extra],
                              stderr=subprocess.PIPE, text=True,
                              preexec_fn=limit if nofile is not None else None)
    url = None
    while url is None:
        line = server.stderr.readline() if server.stderr else ""
        if not line:
            server.kill()
            raise SystemExit("kpki serve did not start")
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        url = match.group(1) if match else None
    drain = subprocess.Popen(["cat"], stdin=server.stderr, stdout=subprocess.DEVNULL)
    try:
        yield url
    finally:
        server.terminate()
        server.wait()
        drain.wait()
