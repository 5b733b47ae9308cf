"""The access log: one line per request, written off the event loop."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request

from pki.usecases.serving import serve_home_in_thread


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []
        self.written = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), threading.current_thread().name))
        self.written.set()


def test_each_request_is_logged_once_by_the_log_thread_not_the_event_loop(home):
    lines = Lines()
    log = logging.getLogger("kpki.serve")
    log.addHandler(lines)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        with serve_home_in_thread(home) as served:
            try:
                urllib.request.urlopen(served.url + "/crl/no-such.crl", timeout=10)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            assert lines.written.wait(timeout=30)
    finally:
        log.removeHandler(lines)
        log.setLevel(old_level)
    assert [line for line, _ in lines.lines if "/crl/no-such.crl" in line] == [
        lines.lines[0][0]]
    message, thread = lines.lines[0]
    assert message.startswith("GET /crl/no-such.crl 404 ")
    assert message.endswith("ms")
    assert thread == "kpki-access-log"
