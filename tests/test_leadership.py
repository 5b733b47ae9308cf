"""One publisher at a time among the processes serving one store (issue 16, item 2).

Rules: a lease is held by one holder at a time; the kernel (an SQLite home's ``flock``) gives
it back the moment its holder dies, however it dies; a publisher publishes only while it holds
the lease, starts with a full round when it takes the lease over, and gives the lease up when
it stops. No sleeping: the tests wait for lines a child process prints.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

from pki.leadership import FileLease, SoleLease


def test_a_file_lease_has_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "publisher.lock"), FileLease(tmp_path / "publisher.lock")
    assert first.hold() and first.hold()  # asking again keeps it
    assert not second.hold()
    first.release()
    assert second.hold() and not first.hold()
    second.release()


def test_the_lease_file_is_private(tmp_path: Path) -> None:
    lease = FileLease(tmp_path / "publisher.lock")
    assert lease.hold()
    assert stat.S_IMODE(os.stat(tmp_path / "publisher.lock").st_mode) == 0o600
    lease.release()


def test_a_read_only_home_does_not_lead(tmp_path: Path) -> None:
    assert not FileLease(tmp_path / "missing-folder" / "publisher.lock").hold()


_HOLDER = """
import sys
from pathlib import Path
from pki.leadership import FileLease
lease = FileLease(Path(sys.argv[1]))
print("held" if lease.hold() else "refused", flush=True)
sys.stdin.read()
"""


def test_a_killed_holder_gives_the_lease_back_at_once(tmp_path: Path) -> None:
    path = tmp_path / "publisher.lock"
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        lease = FileLease(path)
        assert not lease.hold()
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert lease.hold()
        lease.release()
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()  # closes its pipes


class Turns:
    """A lease that answers from a script: True/False per call, then False."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.released = False

    def hold(self) -> bool:
        return self.answers.pop(0) if self.answers else False

    def release(self) -> None:
        self.released = True


def test_a_publisher_publishes_only_while_it_holds_the_lease(home) -> None:  # type: ignore[no-untyped-def]
    publisher = home.publisher()
    lease = Turns([False, True, True, False, True])
    stop = threading.Event()
    rounds = []

    def after(done) -> None:  # type: ignore[no-untyped-def]
        rounds.append(sorted(done.labels))
        if not lease.answers:
            stop.set()

    publisher.watch(stop, poll_seconds=0, on_round=after, lease=lease)
    # held in calls 2, 3 and 5: a full round on taking it, nothing due next, and a full
    # round again after it was lost and taken back
    assert rounds == [["root", "yessign"], [], ["root", "yessign"]]
    assert lease.released


def test_the_sole_lease_is_always_held() -> None:
    lease = SoleLease()
    assert lease.hold()
    lease.release()
    assert lease.hold()


# -- PostgreSQL: a session advisory lock --------------------------------------------------


def test_an_advisory_lease_has_one_holder_and_is_freed_when_its_session_ends(
        postgresql_url: str) -> None:
    import psycopg

    from pki.leadership import AdvisoryLease

    first, second = AdvisoryLease(postgresql_url), AdvisoryLease(postgresql_url)
    try:
        assert first.hold() and first.hold()  # the second call is the heartbeat
        assert not second.hold()
        # the holder's session ends (its process died, or the server ended it as idle)
        with psycopg.connect(postgresql_url, autocommit=True) as admin:
            # with a timeout, the call waits until the backend has exited (and so freed
            # the lock); without it, it returns once the signal is sent, and the next
            # hold() could still find the lock held
            admin.execute("SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity "
                          "WHERE application_name = 'kpki publisher lease' "
                          "AND datname = current_database() AND pid <> pg_backend_pid() "
                          "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                          "AND granted)")
        assert second.hold()
        assert not first.hold()  # its heartbeat finds the session gone: the lease is lost
        assert not first.hold()  # and it is not taken back while the new holder lives
    finally:
        first.release()
        second.release()


def test_a_frozen_holders_session_is_ended_by_the_server(postgresql_url: str) -> None:
    from pki.leadership import AdvisoryLease

    lease = AdvisoryLease(postgresql_url, idle_timeout=2.5)
    try:
        assert lease.hold()
        # A holder that stops its heartbeat (SIGSTOP) is ended by the server's own timer:
        # the lease's session carries the timeout (and TCP keepalives, which a Unix socket
        # has no use for).
        shown = lease._conn.execute("SHOW idle_session_timeout").fetchone()[0]
        assert shown == "2500ms"
    finally:
        lease.release()
