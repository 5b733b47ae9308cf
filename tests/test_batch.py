"""Batch files (issue 13 item 2): read, checked row by row, issued all or nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.authority import IssueStep
from pki.batchfile import read_batch
from pki.errors import BatchFileError, FolderExistsError, InvalidRRNError, WrongPasswordError
from pki.home import Home
from pki.keys import npki
from pki.profiles import PROFILES
from pki.rrn import RRN, synthetic_rrn
from pki.vid import identify_data_of, vid_matches

PASSWORD = "Test-pass-1234!"
JOINT = PROFILES["joint-general"]
GOOD_CSV = (
    "name,rrn,birth,sex,policy,ra,alias\n"
    "홍길동,9005171234566,,,general,,\n"
    "김철수,,1985-03-02,M,banking,NACF,\n"
    "이영희,,2001-12-24,F,,,Lee\n"
)


def write(path: Path, data: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    return path


def folders(out: Path) -> list[Path]:
    """NPKI folders (and anything else) under every USER folder of ``out``."""
    return sorted(p for user in out.glob("NPKI/*/USER") for p in user.iterdir())


def test_a_csv_batch_issues_every_row_into_its_folder(home: Home, tmp_path: Path) -> None:
    from pki.usecases.batch import BatchOrder, issue_batch

    order = BatchOrder(path=write(tmp_path / "people.csv", GOOD_CSV), out=tmp_path / "out")
    steps: list[tuple[IssueStep, int, int]] = []
    done = issue_batch(home, order, password=PASSWORD, passphrase=None,
                       progress=lambda *a: steps.append(a))
    assert [e.row for e in done.entries] == [2, 3, 4]
    by_row = {e.row: e for e in done.entries}
    assert by_row[2].issued.profile.name == "joint-general"
    assert by_row[3].issued.profile.name == "joint-banking"
    assert "NACF" in by_row[3].issued.certificate.subject.rfc4514_string()
    assert "(Lee)" in by_row[4].folder.name
    # The synthetic numbers are valid ones of the birth date and sex, in the VID.
    rrn3 = synthetic_rrn(dt.date(1985, 3, 2), female=False, serial=3)
    data = identify_data_of(by_row[3].issued.certificate)
    assert data is not None and vid_matches(data, rrn=rrn3, r=by_row[3].issued.r)
    assert len(home.store.list_certificates()) == 3
    assert folders(tmp_path / "out") == sorted(e.folder for e in done.entries)
    for entry in done.entries:
        cert = npki.read_certificate(entry.folder / "signCert.der")
        assert cert.serial_number == entry.issued.serial
    assert steps[-1] == (IssueStep.DELIVER, 3, 3)
    assert {s for s, _, _ in steps} == set(IssueStep)


def test_a_jsonl_batch_reads_like_the_csv(tmp_path: Path) -> None:
    lines = [{"name": "홍길동", "rrn": "900517-1234566", "policy": "general"},
             {"name": "김철수", "birth": "1985-03-02", "sex": "m", "policy": "banking",
              "ra": "NACF"},
             {"name": "이영희", "birth": "2001-12-24", "sex": "F", "alias": "Lee",
              "foreign": True}]
    path = write(tmp_path / "people.jsonl",
                 "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    batch = read_batch(path, profile=JOINT)
    assert [r.row for r in batch.rows] == [1, 2, 3]
    assert batch.rows[0].rrn == RRN.parse("9005171234566")
    assert batch.rows[1].profile.name == "joint-banking"
    assert batch.rows[2].rrn.foreigner and batch.rows[2].rrn.female
    assert batch.rows[2].synthesised


def test_a_bom_and_crlf_and_blank_lines_are_read(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + GOOD_CSV.replace("\n", "\r\n\r\n").encode()
    batch = read_batch(write(tmp_path / "p.csv", data), profile=JOINT)
    assert [r.name for r in batch.rows] == ["홍길동", "김철수", "이영희"]
    assert [r.row for r in batch.rows] == [3, 5, 7]


def test_rows_bring_their_own_passwords(home: Home, tmp_path: Path) -> None:
    from pki.usecases.batch import BatchOrder, issue_batch

    write(tmp_path / "kim.pass", "Kim-pass-5678!\n")
    path = write(tmp_path / "people.csv",
                 "name,rrn,password,password_file\n"
                 "홍길동,9005171234566,Hong-pass-1234!,\n"
                 "김철수,8503021234561,,kim.pass\n"
                 "이영희,0112244234561,,\n")
    order = BatchOrder(path=path, out=tmp_path / "out")
    assert order.read().needs_password
    done = issue_batch(home, order, password=PASSWORD, passphrase=None)
    for entry, password in zip(done.entries, ["Hong-pass-1234!", "Kim-pass-5678!", PASSWORD],
                               strict=True):
        npki.load(entry.folder, password)
        with pytest.raises(WrongPasswordError):
            npki.load(entry.folder, "Wrong-pass-0000!")


def test_a_file_of_passwords_others_can_read_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv",
                 "name,rrn,password\n홍길동,9005171234566,Hong-pass-1234!\n", mode=0o644)
    with pytest.raises(BatchFileError) as caught:
        read_batch(path, profile=JOINT)
    assert (caught.value.row, caught.value.column) == (2, "password")
    assert f"chmod 600 {path}" in str(caught.value)
    path.chmod(0o600)
    assert read_batch(path, profile=JOINT).rows[0].password == "Hong-pass-1234!"
    # Without passwords in it, a readable batch file is fine.
    write(path, "name,rrn,password\n홍길동,9005171234566,\n", mode=0o644)
    assert read_batch(path, profile=JOINT).needs_password


_BAD = [
    # (file name, content, row, column, words in the message)
    ("p.csv", "name,rrn\n홍길동,9005171234567\n", 2, "rrn", "expected 6"),
    ("p.csv", "name,rrn\n홍:길동,9005171234566\n", 2, "name", "':'"),
    ("p.csv", "name,rrn\n..,9005171234566\n", 2, "name", "no letter"),
    ("p.csv", "name,rrn,alias\n홍길동,9005171234566,a(b\n", 2, "alias", "parenthes"),
    ("p.csv", "name,rrn,policy\n홍길동,9005171234566,gold\n", 2, "policy",
     "general or banking"),
    ("p.csv", "name,rrn,kind\n홍길동,9005171234566,personal\n", 1, "kind",
     "joint batches"),
    ("p.csv", "name,rrn,ra\n홍길동,9005171234566,N?ACF\n", 2, "ra", "RA unit"),
    ("p.csv", "name,rrn\n홍길동,9005171234566\n김철수,900517-1234566\n", 3, "rrn",
     "as row 2"),
    ("p.csv", "name,birth,sex\n홍길동,1990-05-17,M\n홍길동,1990-05-17,X\n", 3, "sex",
     "M or F"),
    ("p.csv", "name,birth,sex\n홍길동,1990-02-30,M\n", 2, "birth", "not a real date"),
    ("p.csv", "name,birth,sex\n홍길동,17.5.1990,M\n", 2, "birth", "YYYY-MM-DD"),
    ("p.csv", "name,rrn,birth\n홍길동,9005171234566,1990-05-17\n", 2, "birth", "not both"),
    ("p.csv", "name,rrn\n홍길동,\n", 2, "rrn", "no resident number"),
    ("p.csv", "name,rrn,email\n홍길동,9005171234566,a@b\n", 1, "email", "unknown column"),
    ("p.csv", "name,rrn,name\n", 1, "name", "twice"),
    ("p.csv", "rrn\n9005171234566\n", 1, None, "no name column"),
    ("p.csv", "name\n홍길동\n", 1, None, "no rrn column"),
    ("p.csv", "name,rrn\n홍길동,9005171234566,extra\n", 2, None, "3 cells"),
    ("p.csv", 'name,rrn\n"홍길동,9005171234566\n', 2, None, "not a CSV row"),
    ("p.csv", "", None, None, "empty"),
    ("p.csv", "\n\n", None, None, "empty"),
    ("p.csv", "name,rrn\n", None, None, "no rows"),
    ("p.csv", "name,rrn\n홍길동,9005171234566,\n", 2, None, "3 cells"),
    ("p.csv", "\ufeffname,rrn\n".encode("utf-16"), None, None, "UTF-16"),
    ("p.csv", b"name,rrn\n\xed\x95,9005171234566\n", 2, None, "not UTF-8"),
    ("p.csv", "name,rrn\n" + "가" * 2000 + ",1\n", 2, None, "longer than 4096"),
    ("p.csv", "name,rrn,password\n홍길동,9005171234566,short\n", 2, "password",
     "characters"),
    ("p.csv", "name,rrn,password_file\n홍길동,9005171234566,nowhere.pass\n", 2,
     "password_file", "cannot read"),
    ("p.jsonl", '{"name": "홍길동", "rrn": 9005171234566}\n', 1, "rrn", "JSON string"),
    ("p.jsonl", '{"name": "홍길동", "rrn": "9005171234566", "rrn": "1"}\n', 1, "rrn",
     "twice"),
    ("p.jsonl", '["홍길동", "9005171234566"]\n', 1, None, "JSON object"),
    ("p.jsonl", '{"name": "홍길동", "rrn": "9005171234566"\n', 1, None, "JSON object"),
    ("p.jsonl", '{"rrn": "9005171234566"}\n', 1, None, "no name"),
    ("p.jsonl", '{"name": "홍길동", "rrn": "9005171234566", "x": "1"}\n', 1, "x",
     "unknown column"),
    ("p.jsonl", '{"name": "홍길동", "birth": "1990-05-17", "sex": "F", "foreign": 1}\n', 1,
     "foreign", "true or false"),
    ("p.jsonl", "[" * 3000 + "\n", 1, None, "JSON object"),
]


@pytest.mark.parametrize(("name", "content", "row", "column", "words"), _BAD)
def test_a_bad_batch_names_the_file_row_and_column_and_issues_nothing(
        home: Home, tmp_path: Path, name: str, content: str | bytes, row: int | None,
        column: str | None, words: str) -> None:
    from pki.usecases.batch import BatchOrder, issue_batch

    path = write(tmp_path / name, content)
    order = BatchOrder(path=path, out=tmp_path / "out")
    with pytest.raises(BatchFileError) as caught:
        issue_batch(home, order, password=PASSWORD, passphrase=None)
    error = caught.value
    assert (error.path, error.row, error.column) == (str(path), row, column)
    message = str(error)
    assert message.startswith(str(path)) and "\n" not in message
    if row is not None:
        assert f"row {row}" in message
    if column is not None:
        assert f"column {column}" in message
    assert words in message
    assert home.store.list_certificates() == []
    assert not (tmp_path / "out").exists()


def test_a_wrong_check_digit_names_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "name,rrn\n홍길동,9005171234560\n")
    with pytest.raises(BatchFileError) as caught:
        read_batch(path, profile=JOINT)
    cause = caught.value.cause
    assert isinstance(cause, InvalidRRNError)
    assert (cause.found, cause.expected) == (0, 6)


def test_a_batch_over_the_row_limit_is_refused_before_reading_on(tmp_path: Path) -> None:
    rows = "".join("사람,,1990-05-17,F\n" for _ in range(5))
    path = write(tmp_path / "p.csv", "name,rrn,birth,sex\n" + rows + "\xff" * 10)
    with pytest.raises(BatchFileError) as caught:
        read_batch(path, profile=JOINT, max_rows=3)
    assert caught.value.row == 5
    assert "more than 3 rows" in str(caught.value)


def test_a_financial_batch_takes_kind_not_policy(tmp_path: Path) -> None:
    financial = PROFILES["financial-personal"]
    path = write(tmp_path / "p.csv", "name,rrn,kind\n홍길동,9005171234566,business\n")
    assert read_batch(path, profile=financial).rows[0].profile.name == "financial-business"
    write(path, "name,rrn,policy\n홍길동,9005171234566,general\n")
    with pytest.raises(BatchFileError, match=r"financial batches .*take kind"):
        read_batch(path, profile=financial)


def test_a_folder_in_the_way_refuses_the_whole_batch_and_leaves_nothing(
        home: Home, tmp_path: Path) -> None:
    """The third row's folder exists: nothing is recorded, and the first two rows' staged
    files never reach their folders (only the first delivery recovers the base; a second
    recovery would have put them in place before the commit)."""
    from pki.usecases.batch import BatchOrder, issue_batch

    out = tmp_path / "out"
    order = BatchOrder(path=write(tmp_path / "p.csv", GOOD_CSV), out=out)
    probe = issue_batch(Home.in_memory(clock=home.clock),
                        BatchOrder(path=order.path, out=tmp_path / "probe"),
                        password=PASSWORD, passphrase=None)
    # The third folder of a batch from this home would have the same CN as the probe's
    # third (same day, same sequence numbers): make it.
    third = out / probe.entries[2].folder.relative_to(tmp_path / "probe")
    third.mkdir(parents=True)
    with pytest.raises(FolderExistsError):
        issue_batch(home, order, password=PASSWORD, passphrase=None)
    assert home.store.list_certificates() == []
    assert folders(out) == [third]
    # The CN numbers were used up: the same batch again gets new CNs and goes through.
    done = issue_batch(home, order, password=PASSWORD, passphrase=None)
    assert len(done.entries) == 3 and third not in [e.folder for e in done.entries]
    assert len(folders(out)) == 4


def test_a_batch_without_a_password_for_every_row_is_refused(home: Home,
                                                              tmp_path: Path) -> None:
    from pki.usecases.batch import BatchOrder, issue_batch

    order = BatchOrder(path=write(tmp_path / "p.csv", GOOD_CSV), out=tmp_path / "out")
    with pytest.raises(ValueError, match="no password"):
        issue_batch(home, order, password=None, passphrase=None)
    assert home.store.list_certificates() == []


# --- exhaustive mutations of a small batch file, and Hypothesis -------------------------

_SMALL = "name,rrn,birth,sex\n홍길동,9005171234566,,\n김,,1985-03-02,F\n".encode()
_EDITS = {
    "delete": lambda b, i: b[:i] + b[i + 1:],
    "duplicate": lambda b, i: b[:i + 1] + b[i:],
    "comma": lambda b, i: b[:i] + b"," + b[i:],
    "quote": lambda b, i: b[:i] + b'"' + b[i:],
    "newline": lambda b, i: b[:i] + b"\n" + b[i:],
    "cr": lambda b, i: b[:i] + b"\r" + b[i:],
    "nul": lambda b, i: b[:i] + b"\x00" + b[i:],
    "ff": lambda b, i: b[:i] + b"\xff" + b[i + 1:],
    "digit": lambda b, i: b[:i] + b"7" + b[i + 1:],
}


def _mutants() -> list[bytes]:
    seen: set[bytes] = set()
    out = []
    for i in range(len(_SMALL)):
        for edit in _EDITS.values():
            mutant = edit(_SMALL, i)
            if mutant not in seen:
                seen.add(mutant)
                out.append(mutant)
    return out


def test_every_single_byte_mutation_is_a_typed_error_or_a_whole_batch(
        home: Home, tmp_path: Path) -> None:
    """Every byte position x every edit of a small file: read and issued, the result is a
    BatchFileError with nothing recorded and nothing written, or every row issued and in
    its folder; never another exception, never a part."""
    from pki.usecases.batch import BatchOrder, issue_batch

    path = tmp_path / "p.csv"
    out = tmp_path / "out"
    issued = errors = 0
    for mutant in _mutants():
        write(path, mutant)
        before = len(home.store.list_certificates())
        before_folders = folders(out)
        try:
            done = issue_batch(home, BatchOrder(path=path, out=out), password=PASSWORD,
                               passphrase=None)
        except BatchFileError as exc:
            errors += 1
            assert exc.path == str(path) and "\n" not in str(exc), mutant
            assert len(home.store.list_certificates()) == before, mutant
            assert folders(out) == before_folders, mutant
        else:
            issued += 1
            assert len(done.entries) >= 1
            assert len(home.store.list_certificates()) == before + len(done.entries)
            assert set(folders(out)) == set(before_folders) | {e.folder for e in done.entries}
    assert issued and errors  # both outcomes were exercised


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_any_bytes_read_as_a_batch_or_a_typed_error(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "any.csv", data)
    for suffix in (".csv", ".jsonl"):
        target = path.rename(path.with_suffix(suffix))
        try:
            batch = read_batch(target, profile=JOINT)
        except BatchFileError as exc:
            assert "\n" not in str(exc)
        else:
            assert batch.rows
        path = target


_cell = st.text(alphabet=st.sampled_from('홍길동김 ab,"\r\n\t:;()-.0123456789MF'), max_size=16)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_cell, _cell, _cell, _cell), min_size=1, max_size=5))
def test_any_csv_of_cells_reads_as_those_rows_or_a_typed_error(tmp_path: Path,
                                                               rows: list) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "rrn", "birth", "sex"])
    writer.writerows(rows)
    path = write(tmp_path / "cells.csv", buffer.getvalue())
    try:
        batch = read_batch(path, profile=JOINT)
    except BatchFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert [r.name for r in batch.rows] == [r[0].strip() for r in rows if any(
            c.strip() for c in r)][:len(batch.rows)]


def test_synthesised_numbers_are_valid_and_distinct(tmp_path: Path) -> None:
    rows = "".join("사람,1990-05-17,F\n" for _ in range(50))
    batch = read_batch(write(tmp_path / "p.csv", "name,birth,sex\n" + rows), profile=JOINT)
    numbers = [r.rrn.digits for r in batch.rows]
    assert len(set(numbers)) == 50
    for digits in numbers:
        assert RRN.parse(digits).birth_date.isoformat() == "1990-05-17"


def test_a_certificate_of_the_batch_is_a_joint_certificate(home: Home,
                                                           tmp_path: Path) -> None:
    from pki.usecases.batch import BatchOrder, issue_batch

    done = issue_batch(home, BatchOrder(path=write(tmp_path / "p.csv", GOOD_CSV),
                                        out=tmp_path / "out", with_km=True),
                       password=PASSWORD, passphrase=None)
    for entry in done.entries:
        assert [f.certificate.name for f in entry.files] == ["signCert.der", "kmCert.der"]
        assert isinstance(entry.issued.certificate, x509.Certificate)
    assert os.stat(done.entries[0].folder).st_mode & 0o777 == 0o700
