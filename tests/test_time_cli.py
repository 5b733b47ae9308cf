"""Time from the shell (issue 13 item 1): ``kpki --at`` / ``$KPKI_NOW`` for every command,
validity options on ``kpki issue``, renewal from a script, a home that may travel back in
time, and the global conventions of item 4 that concern time and exit statuses (KST with
its offset or ``--utc``, 130 on Ctrl-C, quiet on a closed pipe)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki.cli import main as cli_main
from pki.cli.main import cli
from pki.clock import KST, FixedClock, OffsetClock, parse_time, requested_validity
from pki.home import Home
from tests.test_cli import assert_one_line_error

PASSWORD = "Test-pass-1234!"
RRN = "9005171234566"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("KPKI_HOME", "KPKI_KEY_PASSWORD", "KPKI_CA_PASSPHRASE", "KPKI_NOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KPKI_KEY_PASSWORD", PASSWORD)
    return CliRunner()


def run(runner: CliRunner, home: Home | Path | str, *args: object,
        env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = home.path if isinstance(home, Home) else home
    return runner.invoke(cli, ["--home", str(path), *[str(a) for a in args]], env=env,
                         catch_exceptions=False)


def issue(runner: CliRunner, home: Home, out: Path, *options: object,
          at: str | None = None, env: dict[str, str] | None = None
          ):  # type: ignore[no-untyped-def]
    before = [] if at is None else ["--at", at]
    return run(runner, home, *before, "issue", "joint", "--name", "홍길동", "--rrn", RRN,
               "--out", out, "--json", *options, env=env)


def issued(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    info: dict[str, str] = json.loads(result.stdout)
    return info


# -- the clock --------------------------------------------------------------------------


def test_a_time_without_an_offset_is_kst() -> None:
    assert parse_time("2027-10-23") == dt.datetime(2027, 10, 22, 15, tzinfo=dt.UTC)
    assert parse_time("2027-10-23T09:30") == dt.datetime(2027, 10, 23, 0, 30, tzinfo=dt.UTC)
    assert parse_time("2027-10-23T09:30:00Z") == dt.datetime(2027, 10, 23, 9, 30,
                                                             tzinfo=dt.UTC)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_time("+2d", now=now) == now + dt.timedelta(days=2)
    assert parse_time("-3h", now=now) == now - dt.timedelta(hours=3)
    for bad in ("yesterday", "2027-13-01", "+2d", ""):
        with pytest.raises(ValueError):
            parse_time(bad)  # (relative times only with a now)


def test_an_offset_clock_starts_at_its_time_and_runs_on() -> None:
    base = FixedClock(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    at = dt.datetime(2030, 5, 1, 9, tzinfo=KST)
    clock = OffsetClock(at, base=base)
    assert clock.now() == at
    base.advance(dt.timedelta(minutes=5))
    assert clock.now() == at + dt.timedelta(minutes=5)


def test_kst_day_alignment_of_requested_validity() -> None:
    now = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)  # 05:30 KST on 16 March
    start, end = requested_validity(now, days=0)
    assert start is None and end == dt.datetime(2026, 3, 16, 23, 59, 59, tzinfo=KST)
    start, end = requested_validity(now, not_before=parse_time("2026-01-10T13:00"),
                                    not_after=parse_time("2026-01-20T01:00"))
    assert start == dt.datetime(2026, 1, 10, tzinfo=KST)
    assert end == dt.datetime(2026, 1, 20, 23, 59, 59, tzinfo=KST)
    start, end = requested_validity(now, days=2, exact=True)
    assert (start, end) == (now, now + dt.timedelta(days=2))
    with pytest.raises(ValueError):
        requested_validity(now, days=1, not_after=now)


# -- --at and $KPKI_NOW ------------------------------------------------------------------


def test_at_issues_on_that_kst_day(runner: CliRunner, home: Home, tmp_path: Path) -> None:
    info = issued(issue(runner, home, tmp_path / "o", at="2027-02-03T08:00"))
    assert info["not_before"] == "2027-02-02T15:00:00Z"
    assert info["not_after"] == "2028-02-03T14:59:59Z"


def test_kpki_now_is_read_and_the_option_wins(runner: CliRunner, home: Home,
                                             tmp_path: Path) -> None:
    env = {"KPKI_NOW": "2027-05-01T00:30:00Z"}
    assert issued(issue(runner, home, tmp_path / "a", env=env))["not_before"] == (
        "2027-04-30T15:00:00Z")
    assert issued(issue(runner, home, tmp_path / "b", at="2027-06-01",
                        env=env))["not_before"] == "2027-05-31T15:00:00Z"


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--at", "next tuesday"], None, "--at"),
    ([], {"KPKI_NOW": "2027-02-30"}, "$KPKI_NOW"),
])
def test_a_bad_time_is_a_usage_error_naming_where_it_came_from(
        runner: CliRunner, home: Home, args: list[str], env: dict[str, str] | None,
        named: str) -> None:
    result = run(runner, home, *args, "cert", "list", env=env)
    assert_one_line_error(result, 2)
    assert named in result.stderr
    assert "Traceback" not in result.output


def test_publishing_runs_on_the_clock_of_at(runner: CliRunner, home: Home) -> None:
    result = run(runner, home, "--at", "2028-01-01T12:00:00+09:00", "crl", "publish",
                 "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    rows = rows if isinstance(rows, list) else rows["crls"]
    assert rows and all(r["this_update"].startswith("2028-01-01T03:") for r in rows)


def test_verification_runs_on_the_clock_of_at(runner: CliRunner, home: Home,
                                              tmp_path: Path) -> None:
    """A certificate that starts next year does not verify now, and does then."""
    folder = issued(issue(runner, home, tmp_path / "o", at="2028-03-01"))["folder"]
    document = tmp_path / "doc.txt"
    document.write_text("청원서")
    signed = run(runner, home, "--at", "2028-03-01T10:00", "sign", document, "--npki", folder,
                 "--json")
    assert signed.exit_code == 0, signed.output
    signature = json.loads(signed.stdout)["signature"]
    assert run(runner, home, "verify", signature).exit_code == 1
    assert run(runner, home, "--at", "2028-03-01T11:00", "verify", signature).exit_code == 0


# -- renewal and reissue from a script ---------------------------------------------------


def test_renew_runs_inside_its_window_with_at(runner: CliRunner, home: Home,
                                              tmp_path: Path) -> None:
    serial = issued(issue(runner, home, tmp_path / "o"))["serial"]
    too_early = run(runner, home, "cert", "renew", serial, "--rrn", RRN, "--out",
                    tmp_path / "r")
    assert_one_line_error(too_early)
    renewed = run(runner, home, "--at", "+350d", "cert", "renew", serial, "--rrn", RRN,
                  "--out", tmp_path / "r", "--json")
    assert renewed.exit_code == 0, renewed.output
    assert json.loads(renewed.stdout)["serial"] != serial


def test_reissue_runs_at_another_time(runner: CliRunner, home: Home, tmp_path: Path) -> None:
    serial = issued(issue(runner, home, tmp_path / "o"))["serial"]
    reissued = run(runner, home, "--at", "+100d", "cert", "reissue", serial, "--rrn", RRN,
                   "--out", tmp_path / "r", "--json")
    assert reissued.exit_code == 0, reissued.output
    new = json.loads(reissued.stdout)
    day = (dt.datetime.now(KST) + dt.timedelta(days=100)).date()
    assert new["not_before"] == dt.datetime.combine(day, dt.time(), KST).astimezone(
        dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- a home's time order -----------------------------------------------------------------


def test_going_back_after_a_crl_in_the_future_is_refused_naming_the_way_out(
        runner: CliRunner, home: Home) -> None:
    assert run(runner, home, "--at", "+30d", "crl", "publish").exit_code == 0
    result = run(runner, home, "crl", "publish")
    assert_one_line_error(result)
    assert "--at" in result.stderr and "--time-travel" in result.stderr


def test_a_time_travel_home_goes_back_and_forth(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "travel"
    made = run(runner, target, "init", "--no-passphrase", "--time-travel", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["time_travel"] is True
    ahead = run(runner, target, "--at", "+30d", "crl", "publish", "--json")
    assert ahead.exit_code == 0, ahead.output
    back = run(runner, target, "crl", "publish", "--json")
    assert back.exit_code == 0, back.output
    with Home.open(target) as opened:
        assert opened.time_travel


# -- validity options on kpki issue ------------------------------------------------------


def test_not_before_and_days_are_kst_day_aligned(runner: CliRunner, home: Home,
                                                 tmp_path: Path) -> None:
    info = issued(issue(runner, home, tmp_path / "o", "--not-before", "2026-04-01T15:00",
                        "--days", "10"))
    assert info["not_before"] == "2026-03-31T15:00:00Z"
    assert info["not_after"] == "2026-04-11T14:59:59Z"


def test_an_already_expired_certificate_can_be_issued(runner: CliRunner, home: Home,
                                                      tmp_path: Path) -> None:
    info = issued(issue(runner, home, tmp_path / "o", "--not-before", "2026-03-20",
                        "--not-after", "2026-03-31"))
    assert info["not_after"] == "2026-03-31T14:59:59Z"
    listed = run(runner, home, "cert", "list", "--status", "expired")
    assert info["serial"] in listed.stdout


def test_exact_takes_the_times_to_the_second(runner: CliRunner, home: Home,
                                             tmp_path: Path) -> None:
    info = issued(issue(runner, home, tmp_path / "o", "--not-before",
                        "2026-05-01T10:20:30+09:00", "--not-after", "2026-05-01T11:00:00Z",
                        "--exact"))
    assert info["not_before"] == "2026-05-01T01:20:30Z"
    assert info["not_after"] == "2026-05-01T11:00:00Z"


@pytest.mark.parametrize(("args", "named"), [
    (["--days", "3", "--not-after", "2026-12-01"], "--days"),
    (["--exact"], "--exact"),
    (["--not-before", "2026-06-01", "--not-after", "2026-05-01"], "--not-after"),
    (["--days", "-1"], "--days"),
    (["--not-after", "soon"], "--not-after"),
    # no --not-before: the start is today (00:00 KST), and this ends long before it
    (["--not-after", "1960-01-01"], "--not-after"),
    (["--not-after", "1960-01-01", "--exact"], "--not-after"),
])
def test_conflicting_validity_options_are_usage_errors(
        runner: CliRunner, home: Home, tmp_path: Path, args: list[str], named: str) -> None:
    result = issue(runner, home, tmp_path / "o", *args)
    assert_one_line_error(result, 2)
    assert named in result.stderr
    assert not (tmp_path / "o").exists()


def test_validity_beyond_the_ca_is_refused_naming_the_options(
        runner: CliRunner, home: Home, tmp_path: Path) -> None:
    result = issue(runner, home, tmp_path / "o", "--not-after", "2099-01-01")
    assert_one_line_error(result)
    assert "--not-after" in result.stderr and "would end after CA 'yessign'" in result.stderr
    with Home.open(home.path) as opened:
        assert not [r for r in opened.store.list_certificates(ca="yessign")]


# -- how times are shown ------------------------------------------------------------------


def test_times_are_shown_in_kst_with_the_offset_or_in_utc(runner: CliRunner, home: Home,
                                                          tmp_path: Path) -> None:
    info = issued(issue(runner, home, tmp_path / "o", at="2026-07-01T09:00"))
    assert info["not_after"] == "2027-07-01T14:59:59Z"  # JSON: ISO 8601, with its offset
    kst = run(runner, home, "cert", "show", info["serial"]).stdout
    assert "2027-07-01 23:59:59+09:00" in kst
    utc = run(runner, home, "--utc", "cert", "show", info["serial"]).stdout
    assert "2027-07-01 14:59:59+00:00" in utc
    assert "2027-07-01 23:59:59+09:00" in run(runner, home, "cert", "list").stdout


# -- Ctrl-C and closed pipes -------------------------------------------------------------


def test_ctrl_c_exits_130_with_one_quiet_line(home: Home, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Home, "list_cas", interrupted)
    assert cli_main.main(["--home", str(home.path), "ca", "list"]) == 130
    assert capsys.readouterr().err == "kpki: interrupted\n"


def test_ctrl_c_at_a_prompt_exits_130(home: Home, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import click

    def prompt(*_: object, **__: object) -> str:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None

    monkeypatch.setattr("pki.cli.secrets.sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("pki.cli.secrets.click.prompt", prompt)
    monkeypatch.delenv("KPKI_KEY_PASSWORD", raising=False)
    status = cli_main.main(["--home", str(home.path), "issue", "joint", "--name", "홍길동",
                            "--rrn", RRN, "--out", str(home.path.parent / "o")])
    assert status == 130
    assert capsys.readouterr().err.strip().splitlines() == ["kpki: interrupted"]


def test_a_reader_that_stops_early_leaves_the_status_alone(
        runner: CliRunner, home: Home, tmp_path: Path) -> None:
    """``kpki verify SIG | head -1`` exits 0 for a valid signature: a real process whose
    stdout is a pipe nobody reads any more."""
    folder = issued(issue(runner, home, tmp_path / "o"))["folder"]
    document = tmp_path / "doc.txt"
    document.write_text("청원서")
    signed = run(runner, home, "sign", document, "--npki", folder, "--json")
    assert signed.exit_code == 0, signed.output
    signature = json.loads(signed.stdout)["signature"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    for args, expected in ((["verify", signature], 0),
                           (["verify", signature, "--json"], 0),
                           (["verify", signature, "--policy", "1.2.3.4"], 1)):
        read, write = os.pipe()
        os.close(read)  # the reader has gone before kpki writes anything
        try:
            done = subprocess.run([sys.executable, "-m", "pki.cli", "--home", str(home.path),
                                   *args], stdout=write, stderr=subprocess.PIPE, env=env,
                                  timeout=120, check=False)
        finally:
            os.close(write)
        assert done.returncode == expected, done.stderr
        assert done.stderr == b""


# -- kpki serve --------------------------------------------------------------------------


def test_serve_publishes_and_answers_on_the_clock_of_kpki_now(
        home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """``KPKI_NOW=TIME kpki serve``: its publisher dates CRLs from TIME on (a clock that
    starts there and runs on)."""
    import urllib.parse
    import urllib.request

    from cryptography import x509

    from tests.serve_process import serving

    monkeypatch.setenv("KPKI_NOW", "2029-04-01T12:00:00+09:00")
    start = dt.datetime(2029, 4, 1, 3, tzinfo=dt.UTC)
    path = urllib.parse.urlsplit(home.store.get_ca("yessign").crl_url).path
    with serving(home.path, "--no-cloud") as server:
        url = f"http://127.0.0.1:{server.port}{path}"
        with urllib.request.urlopen(url, timeout=30) as reply:
            crl = x509.load_der_x509_crl(reply.read())
    assert start <= crl.last_update_utc < start + dt.timedelta(hours=1)
