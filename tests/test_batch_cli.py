"""``kpki issue joint|financial --from FILE`` (issue 13 item 2): the CLI and crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki.cli.main import cli
from pki.delivery import STAGING_PREFIX, undelivered
from pki.home import Home
from pki.keys import npki
from tests.crash import CrashRunner

PASSWORD = "Test-pass-1234!"
CSV = ("name,rrn,birth,sex,policy,ra\n"
       "홍길동,9005171234566,,,general,\n"
       "김철수,,1985-03-02,M,banking,NACF\n"
       "이영희,,2001-12-24,F,,\n")


@pytest.fixture
def env(make_home) -> dict[str, str]:  # type: ignore[no-untyped-def]
    home = make_home()
    return {"KPKI_HOME": str(home.path), "KPKI_KEY_PASSWORD": PASSWORD}


def _npki_folders(out: Path) -> list[Path]:
    return sorted(p for user in out.glob("NPKI/*/USER") for p in user.iterdir())


def _stored(env: dict[str, str]) -> dict[int, bytes]:
    with Home.open(env["KPKI_HOME"]) as home:
        return {r.serial: r.der for r in home.store.list_certificates()}


def test_the_manifest_lists_what_was_written(env: dict[str, str], tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(CSV)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["issue", "joint", "--from", str(people), "--out",
                                      str(out)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["row"] for m in manifest] == [2, 3, 4]
    assert [m["name"] for m in manifest] == ["홍길동", "김철수", "이영희"]
    assert [m["profile"] for m in manifest] == ["joint-general", "joint-banking",
                                                "joint-general"]
    assert sorted(Path(m["folder"]) for m in manifest) == _npki_folders(out)
    stored = _stored(env)
    for m in manifest:
        cert = npki.load(Path(m["folder"]), PASSWORD).certificate
        assert int(m["serial"].replace(":", ""), 16) == cert.serial_number
        assert cert.serial_number in stored
        assert m["not_after"].startswith(str(cert.not_valid_after_utc.year))
    assert result.stderr == ""  # no progress: stderr is not a terminal


def test_the_manifest_goes_to_a_file_that_is_not_overwritten(env: dict[str, str],
                                                             tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(CSV)
    manifest = tmp_path / "manifest.jsonl"
    argv = ["issue", "joint", "--from", str(people), "--out", str(tmp_path / "out"),
            "--manifest", str(manifest), "--json"]
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["issued"] == 3
    assert len(manifest.read_text().splitlines()) == 3
    again = CliRunner().invoke(cli, argv, env=env)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert len(_stored(env)) == 3  # refused before anything was issued


def test_a_bad_row_is_one_line_and_nothing_is_issued(env: dict[str, str],
                                                     tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(CSV + "박민수,9005171234567,,,,\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["issue", "joint", "--from", str(people), "--out",
                                      str(out)], env=env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert f"{people}, row 5, column rrn" in result.stderr and "expected 6" in result.stderr
    assert result.stdout == ""
    assert _stored(env) == {} and not out.exists()


@pytest.mark.parametrize("extra", [["--name", "홍길동"], ["--rrn", "9005171234566"],
                                   ["--alias", "Hong"]])
def test_options_of_one_holder_do_not_go_with_from(env: dict[str, str], tmp_path: Path,
                                                   extra: list[str]) -> None:
    people = tmp_path / "people.csv"
    people.write_text(CSV)
    result = CliRunner().invoke(cli, ["issue", "joint", "--from", str(people), *extra,
                                      "--out", str(tmp_path / "out")], env=env)
    assert result.exit_code == 2 and f"{extra[0]} does not go with --from" in result.stderr


def test_without_from_name_and_rrn_are_required(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["issue", "joint", "--out", str(tmp_path / "o")], env=env)
    assert result.exit_code == 2 and "--name" in result.stderr


# -- crashes during a batch of 50 ---------------------------------------------------------


@pytest.fixture
def crash_runner():  # type: ignore[no-untyped-def]
    runner = CrashRunner()
    yield runner
    runner.close()


def _leftovers(out: Path) -> list[Path]:
    return [p for p in _npki_folders(out) if p.name.startswith(STAGING_PREFIX)]


# (point, committed?) before the commit (the 25th staging), after it before any folder is
# in place, and half-way through putting the folders in place.
BATCH_FAULTS = [("delivery.staged@25", False), ("delivery.committed", True),
                ("delivery.renamed@25", True)]


@pytest.mark.parametrize(("point", "committed"), BATCH_FAULTS)
def test_a_batch_killed_at_a_fault_point_is_all_or_nothing(
        crash_runner: CrashRunner, tmp_path: Path, point: str, committed: bool) -> None:
    home = tmp_path / "home"
    Home.create(home, passphrase=None).close()
    env = {"KPKI_HOME": str(home), "KPKI_KEY_PASSWORD": PASSWORD}
    people = tmp_path / "people.csv"
    people.write_text("name,birth,sex\n" + "".join(f"사람{i},1990-05-17,F\n"
                                                   for i in range(50)))
    out = tmp_path / "out"
    argv = ["issue", "joint", "--from", str(people), "--out", str(out)]
    assert crash_runner.run(argv, fault=point, env=env).killed
    stored = _stored(env)
    assert len(stored) == (50 if committed else 0)
    # Under a real name only certificates the store has.
    for folder in _npki_folders(out):
        if not folder.name.startswith(STAGING_PREFIX):
            assert (folder / "signCert.der").read_bytes() in stored.values()

    done = crash_runner.run(["cert", "deliver", "--out", str(out)], fault=None, env=env)
    assert done.exit == 0
    assert _leftovers(out) == []
    folders = _npki_folders(out)
    assert len(folders) == len(stored)
    assert sorted((f / "signCert.der").read_bytes() for f in folders) == sorted(stored.values())
    with Home.open(home) as opened:
        assert undelivered(opened.store) == []
        assert opened.store.pending_deliveries() == []


def test_progress_is_shown_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from pki.authority import IssueStep
    from pki.cli.batch import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        progress = _Progress()
        for done in range(1, 201):
            progress(IssueStep.PREPARE, done, 200)
        progress(IssueStep.DELIVER, 200, 200)
        progress.close()
        text = stream.getvalue()
        assert ("making keys 200/200" in text and "writing folders 200/200" in text) is shown
        assert text.count("making keys") <= 101  # once a percent, not once a row
        assert shown or text == ""
