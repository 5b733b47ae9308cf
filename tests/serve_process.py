"""A real ``kpki serve`` process for tests, its log read line by line."""

from __future__ import annotations

import contextlib
import queue
import re
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

DEADLINE = 30.0


class Server:
    """A ``kpki serve`` process with its stderr read line by line into a queue."""

    def __init__(self, home: Path, *options: str, nofile: int | None = None) -> None:
        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        kpki = str(Path(sys.executable).parent / "kpki")
        self.proc = subprocess.Popen([kpki, "--home", str(home), "serve", "--port", "0",
                                      "--poll", "60", *options],
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=limit if nofile is not None else None)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_for(r"listening on http://127\.0\.0\.1:(\d+)")
        if match is None:
            self.stop()
            pytest.fail("kpki serve did not start:\n" + "".join(self.log))
        self.port = int(match.group(1))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for(self, pattern: str) -> re.Match[str] | None:
        """The next log line matching ``pattern`` (None at exit or after DEADLINE)."""
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                return None
            if not line:
                return None
            self.log.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> str:
        """Stop the server; its whole log."""
        stop_process(self.proc, self._reader)
        while not self.lines.empty():
            self.log.append(self.lines.get())
        return "".join(self.log)


def stop_process(proc: subprocess.Popen[str], reader: threading.Thread) -> int:
    """Stop a process whose stderr ``reader`` reads line by line; its exit status. Never
    waits for ever: SIGTERM, then SIGKILL after DEADLINE; the pipe is closed only once the
    reader has seen its end (closing a pipe another thread is reading can block for ever),
    and a pipe still open after the process died (a child holding it) fails the test."""
    proc.terminate()
    try:
        status = proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait(timeout=DEADLINE)
    reader.join(timeout=DEADLINE)
    if reader.is_alive():
        pytest.fail(f"{proc.args!r} exited, yet its stderr stays open (a child holds it)")
    if proc.stderr is not None:
        proc.stderr.close()
    return status


@contextlib.contextmanager
def serving(home: Path, *options: str, nofile: int | None = None) -> Iterator[Server]:
    """``kpki --home HOME serve --port 0 --poll 60 OPTIONS...`` until the block ends."""
    server = Server(home, *options, nofile=nofile)
    try:
        yield server
    finally:
        server.stop()
