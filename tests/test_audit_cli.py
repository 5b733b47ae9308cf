"""``kpki audit``: the audit log through the store's public interface, filtered, in KST."""

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from cryptography import x509

from pki import lifecycle
from pki.cli.main import cli
from pki.rrn import synthetic_rrn
from pki.store import AuditAction

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


@pytest.fixture
def audited(home, clock):
    """Two certificates issued at 05:30 KST on 16 March 2026 (20:30Z the day before), the
    first revoked a day later."""
    ca = home.authority()
    first = ca.issue_joint(name="홍길동", rrn=RRN).serial
    second = ca.issue_joint(name="김철수", rrn=RRN).serial
    clock.advance(dt.timedelta(days=1))
    lifecycle.revoke(home.store, first, at=clock.now(),
                     reason=x509.ReasonFlags.key_compromise)
    path = str(home.path)
    home.close()
    return path, first, second


def run(path, *args):
    return CliRunner().invoke(cli, ["--home", path, "audit", *args])


def events(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_audit_lists_every_change_oldest_first(audited):
    path, first, second = audited
    log = events(run(path, "--json"))
    assert [e["id"] for e in log] == sorted(e["id"] for e in log)
    mine = [(e["action"], e["serial"]) for e in log if e["ca"] == "yessign"
            and e["action"].startswith("certificate.")]
    assert mine == [("certificate.issued", f"{first:X}"), ("certificate.issued", f"{second:X}"),
                    ("certificate.revoked", f"{first:X}")]


def test_audit_json_times_are_iso_8601_in_utc_as_every_command_writes_them(audited):
    """One JSON time format everywhere (issue 13 item 4): ISO 8601 in UTC with ``Z``,
    whatever ``--utc`` says (it changes only the text); kpki audit wrote +09:00."""
    path, first, _ = audited
    kst = events(run(path, "--json", "--serial", f"{first:x}"))
    assert kst[0]["at"] == "2026-03-15T20:30:00Z"
    utc = events(run(path, "--json", "--utc", "--serial", f"{first:x}"))
    assert utc[0]["at"] == "2026-03-15T20:30:00Z"
    for event in kst + utc:
        assert dt.datetime.fromisoformat(event["at"]).tzinfo is not None


def test_audit_text_shows_kst_with_its_offset_and_utc_on_request(audited):
    path, first, _ = audited
    text = run(path, "--serial", f"{first:X}", "--action", "certificate.issued")
    assert text.exit_code == 0, text.output
    assert "2026-03-16 05:30:00+09:00" in text.stdout
    assert "2026-03-15 20:30:00+00:00" in run(path, "--serial", f"{first:X}", "--utc").stdout


def test_audit_filters_by_serial_and_action_family(audited):
    path, first, _ = audited
    log = events(run(path, "--json", "--serial", f"{first:X}"))
    assert {e["serial"] for e in log} == {f"{first:X}"}
    revoked = events(run(path, "--json", "--action", "certificate.revoked"))
    assert [e["serial"] for e in revoked] == [f"{first:X}"]
    assert revoked[0]["detail"]["reason"] == "keyCompromise"
    family = events(run(path, "--json", "--action", "certificate"))
    assert {e["action"] for e in family} >= {"certificate.issued", "certificate.revoked"}
    assert all(e["action"].startswith("certificate.") for e in family)
    assert events(run(path, "--json", "--action", "certif")) == []
    both = events(run(path, "--json", "--action", "ca.created", "--action",
                      "certificate.revoked"))
    assert {e["action"] for e in both} == {"ca.created", "certificate.revoked"}


def test_audit_since_a_kst_day_or_time(audited):
    path, first, _ = audited
    # Everything happened on 16 March KST (15 March in UTC) or the day after.
    assert events(run(path, "--json", "--since", "2026-03-16")) == events(run(path, "--json"))
    later = events(run(path, "--json", "--since", "2026-03-16T05:31"))
    assert [(e["action"], e["serial"]) for e in later] == [("certificate.revoked",
                                                            f"{first:X}")]
    assert events(run(path, "--json", "--since", "2026-03-16T20:30:01Z")) == []
    assert events(run(path, "--json", "--since", "2026-03-16T20:30:00Z")) == later


def test_audit_by_ca(audited):
    path, _, _ = audited
    root = events(run(path, "--json", "--ca", "root"))
    assert root and {e["ca"] for e in root} == {"root"}


def test_audit_jsonl_is_one_object_a_line(audited):
    path, _, _ = audited
    result = run(path, "--jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == events(run(path, "--json"))


@pytest.mark.parametrize(("args", "status", "says"), [
    (["--ca", "nope"], 1, "no CA labelled 'nope'"),
    (["--since", "yesterday"], 2, "--since"),
    (["--serial", "xyz"], 2, "--serial"),
    (["--json", "--jsonl"], 2, "--jsonl"),
])
def test_audit_refuses_bad_options_in_one_line(audited, args, status, says):
    path, _, _ = audited
    result = run(path, *args)
    assert result.exit_code == status, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error: ") and says in lines[0]


def test_every_logged_action_is_an_audit_action_stored_as_its_value(audited):
    path, first, _ = audited
    log = events(run(path, "--json"))
    assert {e["action"] for e in log} <= {a.value for a in AuditAction}
    assert AuditAction.CA_CREATED.value in {e["action"] for e in log}
    revoked = events(run(path, "--json", "--action", AuditAction.CERTIFICATE_REVOKED.value))
    assert [e["serial"] for e in revoked] == [f"{first:X}"]


def test_the_action_help_names_every_family():
    result = CliRunner().invoke(cli, ["audit", "--help"])
    assert result.exit_code == 0
    for family in {a.value.split(".")[0] for a in AuditAction}:
        assert family in result.output
