"""``kpki cert list`` over large homes (issue 16 item 4): read page by page in serial order,
printed as it comes, ``--limit`` and ``--after`` paging, ``--json`` and ``--jsonl`` streamed."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from cryptography import x509

from pki.cli.main import cli
from pki.home import Home
from pki.store import CertificateRecord, CertStatus, KeyOrigin
from pki.store.sqlite.listing import CertificateListingSQL
from tests.test_cli import assert_one_line_error

# Serials of different lengths, stored out of numeric order: text order would put 10 before F.
SERIALS = [0x1A, 0xF, 0x100, 0x10, 0xFF, 0x2, 0xABCDEF, 0x1, 0xFFF, 0x1000, 0x11, 0xE]
AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _record(home: Home, ca: str, serial: int, *, status: CertStatus = CertStatus.VALID
            ) -> CertificateRecord:
    revoked = status is CertStatus.REVOKED
    return CertificateRecord(
        ca=ca, serial=serial, subject=f"CN=row{serial:X}", holder=f"holder{serial % 3}",
        profile="joint-general", status=status, not_before=AT,
        not_after=AT + dt.timedelta(days=365), der=home.store.get_ca(ca).der, issued_at=AT,
        key_origin=KeyOrigin.PUBLIC_KEY, revoked_at=AT if revoked else None,
        reason=x509.ReasonFlags.superseded if revoked else None)


@pytest.fixture
def filled(home: Home) -> Home:
    """SERIALS at yessign (every third revoked), and 0x10, 0x5 and 0x2000 at root."""
    with home.store.transaction() as tx:
        for index, serial in enumerate(SERIALS):
            tx.put_certificate(_record(home, "yessign", serial,
                                       status=CertStatus.REVOKED if index % 3 == 0
                                       else CertStatus.VALID))
        for serial in (0x10, 0x2000, 0x5):
            tx.put_certificate(_record(home, "root", serial))
    return home


def _serials(pages: object) -> list[tuple[str, int]]:
    return [(r.ca, r.serial) for page in pages for r in page]  # type: ignore[attr-defined]


def _root_serials(home: Home) -> list[int]:
    return sorted(r.serial for r in home.store.list_certificates(ca="root"))


def test_pages_are_in_numeric_serial_order_ca_by_ca(filled: Home) -> None:
    listed = _serials(filled.store.certificate_pages(page_size=2))
    root = [("root", s) for s in _root_serials(filled)]
    assert listed == root + [("yessign", s) for s in sorted(SERIALS)]


@pytest.mark.parametrize("page_size", [1, 2, 3, 500])
def test_pages_hold_at_most_the_page_size(filled: Home, page_size: int) -> None:
    pages = list(filled.store.certificate_pages(ca="yessign", page_size=page_size))
    assert all(1 <= len(page) <= page_size for page in pages)
    assert sum(len(page) for page in pages) == len(SERIALS)


def test_after_resumes_exactly_at_every_position(filled: Home) -> None:
    """No row skipped or repeated, whatever the serial lengths around the boundary."""
    everything = _serials(filled.store.certificate_pages())
    for index, position in enumerate(everything):
        rest = _serials(filled.store.certificate_pages(after=position, page_size=2))
        assert rest == everything[index + 1:], position


def test_after_a_serial_not_stored_resumes_at_the_next_one(filled: Home) -> None:
    rest = _serials(filled.store.certificate_pages(ca="yessign", after=("yessign", 0x12)))
    assert rest == [("yessign", s) for s in sorted(SERIALS) if s > 0x12]


def test_filters_apply_to_pages(filled: Home) -> None:
    revoked = _serials(filled.store.certificate_pages(status=CertStatus.REVOKED, page_size=1))
    expected = sorted(s for i, s in enumerate(SERIALS) if i % 3 == 0)
    assert revoked == [("yessign", s) for s in expected]
    held = _serials(filled.store.certificate_pages(ca="yessign", holder="holder1"))
    assert held == [("yessign", s) for s in sorted(SERIALS) if s % 3 == 1]


@pytest.mark.sqlite_only("reads SQLite's query plan")
def test_the_listing_index_exists_and_is_used(filled: Home) -> None:
    conn = filled.store._conn  # type: ignore[attr-defined]
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT c.id FROM certificates c WHERE c.ca_id = ? AND "
        "length(c.serial) = ? AND c.serial > ? ORDER BY c.serial LIMIT ?",
        (1, 2, "10", 5)).fetchall()
    assert "certificates_by_serial" in str(plan)
    assert "TEMP B-TREE" not in str(plan)


def test_replaced_by_answers_for_a_page(filled: Home) -> None:
    with filled.store.transaction() as tx:
        tx.put_certificate(CertificateRecord(**{**_record(filled, "yessign", 0x777).__dict__,
                                                "replaces": 0x1A}))
    assert filled.store.replaced_by("yessign", [0x1A, 0xF]) == {0x1A: [0x777]}
    assert filled.store.replaced_by("yessign", []) == {}


# -- the command ---------------------------------------------------------------------------

@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("KPKI_HOME", raising=False)
    return CliRunner()


def _run(runner: CliRunner, home: Home, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, ["--home", str(home.path), "cert", "list", *args],
                         catch_exceptions=False)


def _jsonl(result) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_cert_list_never_loads_the_whole_list(filled: Home, runner: CliRunner,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The old command read every record (list_certificates) before printing one."""
    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole list was loaded")

    monkeypatch.setattr(CertificateListingSQL, "list_certificates", whole, raising=False)
    monkeypatch.setattr(type(filled.store), "list_certificates", whole)
    for args in ((), ("--json",), ("--jsonl",)):
        assert _run(runner, filled, *args).exit_code == 0


def test_limit_and_after_page_through_everything_exactly(filled: Home,
                                                         runner: CliRunner) -> None:
    everything = _jsonl(_run(runner, filled, "--jsonl", "--ca", "yessign"))
    assert [int(r["serial"], 16) for r in everything] == sorted(SERIALS)
    pages, after = [], None
    while True:
        args = ["--jsonl", "--ca", "yessign", "--limit", "5"]
        page = _jsonl(_run(runner, filled, *args, *(["--after", after] if after else [])))
        if not page:
            break
        assert len(page) <= 5
        pages.append(page)
        after = page[-1]["serial"]
    assert [r for page in pages for r in page] == everything
    assert [len(p) for p in pages] == [5, 5, 2]


def test_after_without_ca_resumes_at_the_serials_ca(filled: Home, runner: CliRunner) -> None:
    everything = _jsonl(_run(runner, filled, "--jsonl"))
    assert [(r["ca"], int(r["serial"], 16)) for r in everything] == _serials(
        filled.store.certificate_pages())
    last_of_root = format(_root_serials(filled)[-1], "X")
    rest = _jsonl(_run(runner, filled, "--jsonl", "--after", last_of_root))
    assert rest == everything[len(_root_serials(filled)):]


def test_json_is_one_valid_array_as_before(filled: Home, runner: CliRunner) -> None:
    result = _run(runner, filled, "--json", "--limit", "3")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == _jsonl(_run(runner, filled, "--jsonl", "--limit", "3"))
    assert result.stdout == json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    empty = _run(runner, filled, "--json", "--ca", "yessign", "--after", "ABCDEF")
    assert empty.stdout == "[]\n"


def test_status_filters_keep_working(filled: Home, runner: CliRunner) -> None:
    revoked = _jsonl(_run(runner, filled, "--jsonl", "--status", "revoked", "--limit", "2"))
    assert [int(r["serial"], 16) for r in revoked] == [0x10, 0x1A]  # of 1A, 10, ABCDEF, 1000
    valid = _jsonl(_run(runner, filled, "--jsonl", "--status", "valid", "--ca", "yessign"))
    assert {r["status"] for r in valid} == {"valid"}
    assert len(valid) == len(SERIALS) - 4


def test_text_table_lists_the_page(filled: Home, runner: CliRunner) -> None:
    result = _run(runner, filled, "--ca", "yessign", "--limit", "2", "--after", "F")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["SERIAL", "CA", "PROFILE"]
    assert [line.split()[0] for line in lines[1:]] == ["10", "11"]


@pytest.mark.parametrize("after", ["xyz", "0", "-5"])
def test_a_bad_after_is_one_line_naming_the_option(filled: Home, runner: CliRunner,
                                                   after: str) -> None:
    result = _run(runner, filled, "--after", after)
    assert_one_line_error(result, status=2)
    assert "--after" in result.stderr


def test_after_a_serial_of_no_or_several_cas_is_one_line(filled: Home,
                                                         runner: CliRunner) -> None:
    for serial, words in (("10", "several CAs"), ("DEAD", "no certificate")):
        result = _run(runner, filled, "--after", serial)
        assert_one_line_error(result, status=2)
        assert "--after" in result.stderr and words in result.stderr
    assert _jsonl(_run(runner, filled, "--jsonl", "--ca", "root", "--after", "2000")) == []


def test_a_reader_that_leaves_stops_the_listing(home: Home) -> None:
    """``kpki cert list --jsonl | head -1`` over three pages: once head has gone, the
    listing stops at the next page instead of reading the home to its end for nobody (the
    process is killed if it reaches a third page: it must not)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    with home.store.transaction() as tx:
        for serial in range(1, 1201):  # 500 a page: three pages
            tx.put_certificate(_record(home, "yessign", 0x100000 + serial))
    home.store.close()
    kpki = str(Path(sys.executable).parent / "kpki")
    env = {**os.environ, "KPKI_FAULT": "cert.list.page@3"}
    child = subprocess.Popen([kpki, "--home", str(home.path), "cert", "list", "--ca",
                              "yessign", "--jsonl"], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    first = json.loads(child.stdout.readline())
    child.stdout.close()  # head -1 has its line and goes
    assert child.wait(timeout=60) == 0
    assert first["serial"] == "100001"
