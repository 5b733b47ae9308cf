"""kpki cert show / cert list make everything visible (issue 13 item 3): revocation time,
reason and invalidity date, a suspension and the day it lapses, and which certificate a
renewal or reissue replaced, in text and in JSON."""

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from pki.cli.main import cli
from pki.clock import KST
from pki.lifecycle import suspension_lapses_at

RRN = "9005171234566"


@pytest.fixture
def runner(monkeypatch):
    for name in ("KPKI_HOME", "KPKI_NOW"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def run(runner, home, *args):
    result = runner.invoke(cli, ["--home", str(home.path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_show_and_list_carry_revocation_suspension_and_links(runner, home, authority, key_pool):
    first = authority.issue_joint(name="홍길동", rrn=RRN)
    reissued = authority.reissue(first.serial, rrn=RRN,
                                 public_key=key_pool.other_than(
                                     first.certificate.public_key()).public_key())
    other = format(authority.issue_joint(name="김철수", rrn=RRN).serial, "X")
    old, new = format(first.serial, "X"), format(reissued.serial, "X")
    run(runner, home, "cert", "revoke", other, "--reason", "keyCompromise",
        "--invalidity-date", "2026-03-01")
    run(runner, home, "cert", "suspend", new)

    revoked = json.loads(run(runner, home, "cert", "show", other, "--json"))
    assert revoked["status"] == "revoked" and revoked["reason"] == "keyCompromise"
    assert revoked["revoked_at"].endswith("Z")
    assert revoked["invalidity_date"] == "2026-02-28T15:00:00Z"  # 2026-03-01 00:00 KST
    assert revoked["replaced_by"] == [] and revoked["replaces"] is None
    shown_old = json.loads(run(runner, home, "cert", "show", old, "--json"))
    assert shown_old["status"] == "revoked" and shown_old["reason"] == "superseded"
    assert shown_old["replaced_by"] == [new] and shown_old["replaces"] is None
    shown_new = json.loads(run(runner, home, "cert", "show", new, "--json"))
    assert shown_new["status"] == "suspended" and shown_new["replaces"] == old
    assert shown_new["suspended_at"] and shown_new["reason"] is None
    lapses = shown_new["suspension_lapses_at"]
    suspended_at = dt.datetime.fromisoformat(shown_new["suspended_at"])
    assert dt.datetime.fromisoformat(lapses) == suspension_lapses_at(suspended_at)
    lapse_day = dt.datetime.fromisoformat(lapses).astimezone(KST).date().isoformat()

    listed = {c["serial"]: c for c in json.loads(run(runner, home, "cert", "list", "--json"))}
    assert listed[old]["replaced_by"] == [new] and listed[other]["reason"] == "keyCompromise"
    assert listed[new]["suspension_lapses_at"] == lapses

    text = run(runner, home, "cert", "show", other)
    assert "keyCompromise" in text and "2026-03-01" in text
    text = run(runner, home, "cert", "show", old)
    assert "superseded" in text and "replaced by:" in text and new in text
    assert "[" not in text
    text_new = run(runner, home, "cert", "show", new)
    assert "suspension lapses at:" in text_new and old in text_new
    table = run(runner, home, "cert", "list")
    row_old = next(line for line in table.splitlines() if line.startswith(old))
    assert "superseded" in row_old and f"replaced by {new}" in row_old
    row_other = next(line for line in table.splitlines() if line.startswith(other))
    assert "keyCompromise" in row_other
    row_new = next(line for line in table.splitlines() if line.startswith(new))
    assert f"lapses {lapse_day}" in row_new and f"replaces {old}" in row_new
