"""Progress of long work (issue 16 item 4): drawn on stderr when it is a terminal, nothing
extra when it is piped (the library reports through a callback and never prints)."""

from __future__ import annotations

import io

from click.testing import CliRunner

from pki.cli.main import cli
from pki.cli.progress import ProgressLine, progress_line
from pki.home import Home
from pki.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_is_drawn_in_place_and_cleared() -> None:
    stream = _Terminal()
    with progress_line(stream) as line:
        line(Progress("CRL of yessign", 10_000))
        line(Progress("CRL of yessign", 20_000))
    assert stream.getvalue() == ("\rkpki: CRL of yessign 10,000\x1b[K"
                                 "\rkpki: CRL of yessign 20,000\x1b[K" "\r\x1b[K")


def test_with_a_total_it_redraws_when_the_percentage_moves() -> None:
    stream = _Terminal()
    line = ProgressLine(stream)
    for done in (1, 2, 3, 500, 1000):
        line.show("issuing", done, 1000)
    assert stream.getvalue().count("\r") == 3  # 0% once, 50%, 100%
    assert stream.getvalue().endswith("\rkpki: issuing 1,000/1,000 100%\x1b[K")


def test_a_tasks_last_report_clears_the_line_for_what_follows() -> None:
    stream = _Terminal()
    line = ProgressLine(stream)
    line(Progress("CRL of root", 10_000))
    line(Progress("CRL of root", 12_345, finished=True))
    assert stream.getvalue().endswith("\r\x1b[K")
    line.close()  # nothing more to clear
    assert stream.getvalue().count("\x1b[K") == 2


def test_piped_nothing_is_written() -> None:
    stream = io.StringIO()
    with progress_line(stream) as line:
        line(Progress("CRL of yessign", 10_000))
        line.show("issuing", 1, 2)
    assert stream.getvalue() == ""


def test_crl_publish_through_a_pipe_prints_nothing_extra(home: Home) -> None:
    runner = CliRunner()
    for args in (["crl", "publish"], ["publish"]):
        result = runner.invoke(cli, ["--home", str(home.path), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        assert "\r" not in result.stdout and "\x1b" not in result.stdout
