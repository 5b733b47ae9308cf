"""Attacks on the issue 12/13 work (batches, time, the cloud CLI's phones) that the first
round of tests did not try.

Each test is a hostile user's or a careless script's move that got through: a batch file
whose ``password_file`` cell names a file outside the batch file's folder (another user's
secret becomes the key password, and the error message gives its length away), a pipe as
the batch file, ``--at`` values out of the calendar's range.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest

from pki.authority import IssueRequest
from pki.batchfile import read_batch
from pki.clock import FixedClock, OffsetClock, parse_time
from pki.errors import BatchFileError, PKIError, ValidityError
from pki.profiles import PROFILES

JOINT = PROFILES["joint-general"]
PASSWORD = "Test-pass-1234!"


def write(path: Path, data: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    return path


def _batch_with_password_file(folder: Path, cell: str) -> Path:
    return write(folder / "people.csv", f"name,rrn,password_file\n홍길동,9005171234566,{cell}\n")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A secret outside the batch folder, good enough to pass the password rules."""
    outside = tmp_path / "outside"
    outside.mkdir()
    return write(outside / "secret.pass", "Someone-else-123!\n")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlinked-folder"])
def test_a_password_file_cell_stays_inside_the_batch_files_folder(
        tmp_path: Path, elsewhere: Path, how: str) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    if how == "dotdot":
        cell = "../outside/secret.pass"
    elif how == "absolute":
        cell = str(elsewhere)
    elif how == "symlink":
        (folder / "kim.pass").symlink_to(elsewhere)
        cell = "kim.pass"
    else:
        (folder / "keys").symlink_to(elsewhere.parent)
        cell = "keys/secret.pass"
    path = _batch_with_password_file(folder, cell)
    with pytest.raises(BatchFileError) as caught:
        read_batch(path, profile=JOINT)
    assert (caught.value.row, caught.value.column) == (2, "password_file")
    assert "folder" in str(caught.value)


def test_a_password_file_in_a_subfolder_of_the_batch_is_read(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    write(tmp_path / "keys" / "kim.pass", "Kim-pass-5678!\n")
    path = _batch_with_password_file(tmp_path, "keys/kim.pass")
    assert read_batch(path, profile=JOINT).rows[0].password == "Kim-pass-5678!"


def test_a_password_file_that_is_a_pipe_is_refused(tmp_path: Path) -> None:
    """Reading a FIFO blocks until someone writes; a batch must not wait on a stranger."""
    fifo = tmp_path / "fifo.pass"
    os.mkfifo(fifo)

    def writer() -> None:  # what a stranger would feed the pipe, once anyone opens it
        fd = os.open(fifo, os.O_WRONLY)
        try:
            os.write(fd, b"Someone-else-123!\n")
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        path = _batch_with_password_file(tmp_path, "fifo.pass")
        with pytest.raises(BatchFileError) as caught:
            read_batch(path, profile=JOINT)
        assert caught.value.column == "password_file"
        assert "regular file" in str(caught.value)
    finally:
        while thread.is_alive():  # let the writer go, whenever it reaches its open()
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            thread.join(0.05)


def test_a_password_file_that_is_a_device_is_refused(tmp_path: Path) -> None:
    """/dev/zero has no first line: reading it whole would never end."""
    (tmp_path / "zero.pass").symlink_to("/dev/zero")
    path = _batch_with_password_file(tmp_path, "zero.pass")
    with pytest.raises(BatchFileError) as caught:
        read_batch(path, profile=JOINT)
    assert caught.value.column == "password_file"


def test_a_huge_password_file_is_refused_without_loading_it(tmp_path: Path) -> None:
    write(tmp_path / "big.pass", b"x" * (64 * 1024 * 1024))
    path = _batch_with_password_file(tmp_path, "big.pass")
    with pytest.raises(BatchFileError) as caught:
        read_batch(path, profile=JOINT)
    assert caught.value.column == "password_file"
    assert "longer" in str(caught.value)


def _write_and_close(fd: int, text: str) -> None:
    os.write(fd, text.encode())
    os.close(fd)


def test_a_batch_file_from_a_pipe_is_read(tmp_path: Path) -> None:
    """``kpki issue joint --from <(make-people)``: a pipe cannot seek back after the
    look at its first bytes that tells CSV from JSON Lines."""
    for text in ('{"name": "홍길동", "rrn": "9005171234566"}\n',
                 "name,rrn\n홍길동,9005171234566\n"):
        read_end, write_end = os.pipe()
        writer = threading.Thread(target=_write_and_close, args=(write_end, text))
        writer.start()
        try:
            batch = read_batch(f"/dev/fd/{read_end}", profile=JOINT)
        finally:
            writer.join()
            os.close(read_end)
        assert [r.name for r in batch.rows] == ["홍길동"]


@pytest.mark.parametrize("text", ["-999999d", "0001-01-01", "0001-01-01T00:00:00+09:00",
                                  "9999-12-31T23:59:59Z"])
def test_a_time_out_of_the_calendars_range_is_a_value_error(text: str) -> None:
    """``kpki --at -999999d`` ended in 'unexpected OverflowError'; a time is a usage error
    naming --at, which the CLI makes of a ValueError. The last second of year 9999 is
    refused too: the clock runs on from it and would overflow a second later."""
    now = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="out of range"):
        OffsetClock(parse_time(text, now=now))


@pytest.mark.parametrize("argv", [["--at", "-999999d", "cert", "list"],
                                  ["--at", "0001-01-01", "cert", "list"]])
def test_kpki_at_out_of_range_is_a_usage_error(tmp_path: Path, argv: list[str]) -> None:
    from pki.cli.main import main

    assert main(["--home", str(tmp_path / "home"), *argv]) == 2


def test_issuing_at_the_end_of_time_is_refused_in_kpkis_words(make_home) -> None:  # type: ignore[no-untyped-def]
    """At 9999-12-31 KST a one-year term would end in year 10000: the CA is not valid then,
    and that is what to say (it was 'unexpected ValueError: year 10000 is out of range')."""
    home = make_home()
    authority = home.authority("yessign", passphrase=None)
    authority.clock = FixedClock(dt.datetime(9999, 12, 30, tzinfo=dt.UTC))
    with pytest.raises(PKIError):
        authority.issue(JOINT, name="홍길동", rrn="9005171234566")


def test_a_not_before_near_the_end_of_time_is_a_validity_error(authority) -> None:  # type: ignore[no-untyped-def]
    request = IssueRequest(JOINT, name="홍길동", rrn="9005171234566",
                           not_before=dt.datetime(9999, 6, 1, tzinfo=dt.UTC))
    with pytest.raises(ValidityError):
        authority.issue_many([request])
