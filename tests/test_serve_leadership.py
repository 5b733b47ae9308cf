"""Several publishing ``kpki serve`` processes on one home: one publishes (issue 16, item 2).

Rules: of the servers sharing a home, exactly one publishes at a time (the holder of the
publisher lease) and every one answers; when the publisher is killed (SIGKILL), another takes
over at its next round and publishes with a larger CRL number. No sleeping: the tests wait for
the servers' log lines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pki.home import Home

from .serve_process import serving

RRN = "9005171234566"
KPKI = str(Path(sys.executable).parent / "kpki")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):  # type: ignore[no-untyped-def]
    """Where the shared home keeps its store: its SQLite file (the lease is a lock file),
    or a PostgreSQL database (the lease is an advisory lock)."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgresql_url")


def test_one_of_two_servers_publishes_and_the_other_takes_over_when_it_dies(
        tmp_path, key_pool, store_url):  # type: ignore[no-untyped-def]
    path = tmp_path / "home"
    with Home.create(path, passphrase=None, key_generator=key_pool,
                     store_url=store_url) as home:
        serial = home.authority().issue_joint(name="홍길동", rrn=RRN).certificate.serial_number
    with serving(path, "--no-cloud", "--poll", "0.05") as first:
        assert any("this process publishes now" in line for line in first.log)
        with serving(path, "--no-cloud", "--poll", "0.05") as second:
            assert any("another process publishes" in line for line in second.log)
            subprocess.run([KPKI, "--home", str(path), "cert", "revoke", f"{serial:X}",
                            "--reason", "keyCompromise"], check=True, capture_output=True)
            published = first.wait_for(r"published CRL (\d+) of yessign ")
            assert published is not None
            first.proc.send_signal(signal.SIGKILL)
            assert second.wait_for("this process publishes now") is not None
            taken_over = second.wait_for(r"published CRL (\d+) of yessign ")
            assert taken_over is not None
            assert int(taken_over.group(1)) > int(published.group(1))
            took = next(i for i, line in enumerate(second.log)
                        if "this process publishes now" in line)
            assert not any("published CRL" in line for line in second.log[:took])
