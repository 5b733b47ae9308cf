"""Batch files: the people of ``kpki issue joint|financial --from FILE``, read and checked.

A batch file is CSV (a header row naming the columns, then one row a person) or JSON Lines
(one JSON object a line, its keys the columns); ``.jsonl``/``.ndjson`` files are JSON Lines,
``.csv`` files CSV, and any other file is JSON Lines if its first character is ``{``. Text is
UTF-8, with or without a byte-order mark, lines end in LF or CRLF, and blank lines are
skipped. The columns (:data:`COLUMNS`):

``name``         the holder's real name (required)
``rrn``          the resident registration number, or instead:
``birth``        a birth date ``YYYY-MM-DD`` and ``sex`` (``M``/``F``), and optionally
``foreign``      (``true``/``false``): kpki makes a synthetic number with a correct check
                 digit (:func:`pki.rrn.synthetic_rrn`, the row number as its serial)
``policy``       joint certificates: ``general`` or ``banking``; financial ones take
``kind``         ``personal`` or ``business`` instead (empty: the command's default)
``ra``           ``UNIT[:INSTITUTION[:BRANCH]]`` (empty: the command's ``--ra``)
``alias``        the romanised name shown in the CN's ( )
``password``     the row's key password, or ``password_file``: a file in the batch file's
                 folder or below it (a relative name; no ``..``, no symbolic link out of
                 it, a regular file) whose first line is it; neither: the command's
                 password

A file with a password in it is a secret: it is refused unless only its owner may read or
write it (``chmod 600``), as ssh refuses a private key others can read.

Every row is checked before anything is issued: the name rules (:mod:`pki.names`), the
resident number and its check digit, the policy, the RA, the password rules, no two rows
with the same resident number and profile, no unknown or doubled column. The first fault
raises :class:`pki.errors.BatchFileError` naming the file, the row (its line number: a CSV
header is row 1) and the column. The file is read line by line, at most
:data:`MAX_LINE_BYTES` a line and :data:`MAX_ROWS` rows, so a huge file costs no more
memory than those rows before it is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BatchFileError, PKIError
from .keys.password import check_password
from .names import check_holder_name
from .profiles import (
    FINANCIAL_PROFILES,
    JOINT_PROFILES,
    Family,
    FinancialKind,
    JointPolicy,
    Profile,
    RegistrationAuthority,
)
from .rrn import RRN, synthetic_rrn

__all__ = [
    "COLUMNS",
    "MAX_LINE_BYTES",
    "MAX_ROWS",
    "Batch",
    "BatchRow",
    "read_batch",
]

MAX_ROWS = 10_000
"""Rows one batch may hold (one transaction; about a minute of key generation)."""
MAX_LINE_BYTES = 4096
"""Bytes one line may hold, without its line ending."""

_OPTION_COLUMN = {Family.JOINT: "policy", Family.FINANCIAL: "kind"}
COLUMNS = frozenset({"name", "rrn", "birth", "sex", "foreign", "ra", "alias", "password",
                     "password_file", *_OPTION_COLUMN.values()})
"""Every column a batch file may have (``policy`` for joint, ``kind`` for financial)."""

_SECRET_MODE_BITS = 0o077
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SEXES = {"m": False, "male": False, "f": True, "female": True}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


@dataclass(frozen=True)
class BatchRow:
    """One person of a batch, checked."""

    row: int
    """The line number in the file (a CSV header is row 1)."""
    name: str
    rrn: RRN = field(repr=False)
    profile: Profile
    ra: RegistrationAuthority
    alias: str = ""
    password: str | None = field(default=None, repr=False)
    """The row's own key password; ``None``: the command's."""
    synthesised: bool = False
    """The resident number was made from the birth date and sex."""


@dataclass(frozen=True)
class Batch:
    """A checked batch file."""

    path: Path
    rows: tuple[BatchRow, ...]

    @property
    def needs_password(self) -> bool:
        """Whether some row has no password of its own, so the command's is needed."""
        return any(r.password is None for r in self.rows)


def read_batch(path: str | Path, *, profile: Profile, ra: RegistrationAuthority | str = "INITECH",
               max_rows: int = MAX_ROWS) -> Batch:
    """Read and check the batch file at ``path`` (see the module documentation).

    ``profile`` is the profile of rows that name none (its family says whether the
    option column is ``policy`` or ``kind``), ``ra`` the RA of rows that name none.
    Raises :class:`BatchFileError` for any fault, with the file, row and column.
    """
    path = Path(path)
    shown = str(path)
    try:
        default_ra = (ra if isinstance(ra, RegistrationAuthority)
                      else RegistrationAuthority.parse(ra))
    except PKIError as exc:
        raise BatchFileError(f"the default RA: {exc}", path=shown, cause=exc) from None
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; the mode is checked on it
    except OSError as exc:
        raise BatchFileError(f"cannot read it: {exc.strerror}", path=shown) from None
    with fh:
        reader = _Reader(fh, path, profile=profile, ra=default_ra, max_rows=max_rows)
        rows = tuple(reader.rows())
    if not rows:
        raise BatchFileError("it has no rows: nothing to issue", path=shown)
    return Batch(path, rows)


class _Reader:
    def __init__(self, fh: io.BufferedReader, path: Path, *, profile: Profile,
                 ra: RegistrationAuthority, max_rows: int) -> None:
        self._fh = fh
        self._path = path
        self._shown = str(path)
        self._profile = profile
        self._option = _OPTION_COLUMN[profile.family]
        self._ra = ra
        self._max_rows = max_rows
        self._secret_checked = False
        self._seen: dict[tuple[str, str], int] = {}

    def _error(self, reason: str, row: int | None = None, column: str | None = None,
               cause: PKIError | None = None) -> BatchFileError:
        return BatchFileError(reason, path=self._shown, row=row, column=column, cause=cause)

    def _lines(self) -> Iterator[tuple[int, str]]:
        """Non-blank lines with their numbers, decoded, without line endings."""
        number = 0
        while True:
            raw = self._fh.readline(MAX_LINE_BYTES + 2)
            if not raw:
                return
            number += 1
            ended = raw.endswith(b"\n")
            if ended:
                raw = raw[:-1]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
            if len(raw) > MAX_LINE_BYTES:
                raise self._error(f"the row is longer than {MAX_LINE_BYTES} bytes", number)
            if number == 1:
                if raw.startswith(_UTF16_BOMS):
                    raise self._error("it is UTF-16 text; save it as UTF-8")
                raw = raw.removeprefix(_BOM)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._error(f"byte {exc.start + 1} of the row is not UTF-8 text "
                                  "(save the file as UTF-8)", number) from None
            if text.strip():
                yield number, text

    def _is_jsonl(self) -> bool:
        suffix = self._path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return True
        if suffix == ".csv":
            return False
        # A peek, not a read and a seek back: the file may be a pipe (--from <(...)).
        start = self._fh.peek(len(_BOM) + 64)[:len(_BOM) + 64]
        return start.removeprefix(_BOM).lstrip().startswith(b"{")

    def rows(self) -> Iterator[BatchRow]:
        cells = self._json_cells() if self._is_jsonl() else self._csv_cells()
        for count, (number, values) in enumerate(cells, 1):
            if count > self._max_rows:
                raise self._error(f"it has more than {self._max_rows} rows: split it into "
                                  "several files", number)
            yield self._row(number, values)

    def _csv_cells(self) -> Iterator[tuple[int, dict[str, str | bool | None]]]:
        lines = self._lines()
        header = next(lines, None)
        if header is None:
            raise self._error("it is empty: a CSV batch starts with a header row naming the "
                              "columns (name,rrn,...)")
        number, text = header
        columns = [c.strip().lower() for c in self._csv_row(number, text)]
        for index, column in enumerate(columns, 1):
            if not column:
                raise self._error(f"header cell {index} is empty", number)
            self._check_column(number, column)
            if columns.index(column) != index - 1:
                raise self._error("the column appears twice in the header", number, column)
        if "name" not in columns:
            raise self._error("there is no name column", number)
        if "rrn" not in columns and not {"birth", "sex"} <= set(columns):
            raise self._error("there is no rrn column (nor birth and sex columns to make "
                              "synthetic resident numbers)", number)
        for number, text in lines:
            row = self._csv_row(number, text)
            if len(row) != len(columns):
                raise self._error(f"the row has {len(row)} cells; the header has "
                                  f"{len(columns)} columns", number)
            yield number, {c: v if c == "password" else v.strip()
                           for c, v in zip(columns, row, strict=True)}

    def _csv_row(self, number: int, text: str) -> list[str]:
        try:
            return next(csv.reader([text], strict=True))
        except csv.Error as exc:
            raise self._error(f"not a CSV row: {exc}", number) from None

    def _json_cells(self) -> Iterator[tuple[int, dict[str, str | bool | None]]]:
        for number, text in self._lines():
            try:
                value = json.loads(text, object_pairs_hook=_no_doubles)
            except _DoubledKey as exc:
                raise self._error("the key appears twice in the object", number,
                                  exc.key) from None
            except (ValueError, RecursionError):
                raise self._error("not a JSON object on one line", number) from None
            if not isinstance(value, dict):
                raise self._error("not a JSON object on one line", number)
            cells: dict[str, str | bool | None] = {}
            for key, item in value.items():
                self._check_column(number, key)
                if item is None or isinstance(item, str) or (key == "foreign"
                                                             and isinstance(item, bool)):
                    cells[key] = item
                else:
                    raise self._error(
                        "a JSON string is expected" + (" (true or false)" if key == "foreign"
                                                       else ""), number, key)
            if "name" not in cells:
                raise self._error("the object has no name key", number)
            yield number, cells

    def _check_column(self, number: int, column: str) -> None:
        if column in COLUMNS and (column not in _OPTION_COLUMN.values()
                                  or column == self._option):
            return
        if column in _OPTION_COLUMN.values():
            family = self._profile.family.value
            raise self._error(f"{column} is not a column of {family} batches (they take "
                              f"{self._option})", number, column)
        known = ", ".join(sorted(COLUMNS - set(_OPTION_COLUMN.values()) | {self._option}))
        raise self._error(f"unknown column {column!r} (known: {known})", number, column)

    def _row(self, number: int, cells: Mapping[str, str | bool | None]) -> BatchRow:
        def text(column: str) -> str:
            value = cells.get(column)
            return value if isinstance(value, str) else ""

        def holder_name(column: str) -> str:
            try:
                return check_holder_name(text(column), field=column)
            except PKIError as exc:
                raise self._error(str(exc), number, column, exc) from None

        name = holder_name("name")
        alias = holder_name("alias") if text("alias") else ""
        rrn, synthesised = self._rrn(number, cells)
        profile = self._option_profile(number, text(self._option))
        ra = self._ra
        if text("ra"):
            try:
                ra = RegistrationAuthority.parse(text("ra"))
            except PKIError as exc:
                raise self._error(str(exc), number, "ra", exc) from None
        password = self._password(number, text("password"), text("password_file"))
        key = (rrn.digits, profile.name)
        if key in self._seen:
            how = " (made from birth and sex)" if synthesised else ""
            raise self._error(f"the same resident number{how} and profile as row "
                              f"{self._seen[key]}", number, "birth" if synthesised else "rrn")
        self._seen[key] = number
        return BatchRow(number, name, rrn, profile, ra, alias, password, synthesised)

    def _rrn(self, number: int, cells: Mapping[str, str | bool | None]) -> tuple[RRN, bool]:
        rrn = cells.get("rrn")
        birth, sex, foreign = cells.get("birth"), cells.get("sex"), cells.get("foreign")
        if isinstance(rrn, str) and rrn:
            for column, value in (("birth", birth), ("sex", sex), ("foreign", foreign)):
                if value not in (None, "", False):
                    raise self._error("give rrn, or birth and sex, not both", number, column)
            try:
                return RRN.parse(rrn), False
            except PKIError as exc:
                raise self._error(str(exc), number, "rrn", exc) from None
        if not (isinstance(birth, str) and birth):
            raise self._error("no resident number: give rrn, or birth and sex", number, "rrn")
        if not _DATE.fullmatch(birth):
            raise self._error("a birth date is YYYY-MM-DD", number, "birth")
        try:
            day = dt.date.fromisoformat(birth)
        except ValueError:
            raise self._error(f"{birth} is not a real date", number, "birth") from None
        female = _SEXES.get(sex.lower()) if isinstance(sex, str) else None
        if female is None:
            raise self._error("sex is M or F", number, "sex")
        if isinstance(foreign, bool):
            foreigner = foreign
        elif foreign is None or foreign.lower() in _FALSE:
            foreigner = False
        elif foreign.lower() in _TRUE:
            foreigner = True
        else:
            raise self._error("foreign is true or false", number, "foreign")
        try:
            return synthetic_rrn(day, female=female, foreigner=foreigner,
                                 serial=number % 96_000), True
        except PKIError as exc:
            raise self._error(str(exc), number, "birth", exc) from None

    def _option_profile(self, number: int, value: str) -> Profile:
        if not value:
            return self._profile
        try:
            if self._profile.family is Family.JOINT:
                return JOINT_PROFILES[JointPolicy(value.lower())]
            return FINANCIAL_PROFILES[FinancialKind(value.lower())]
        except ValueError:
            choices = (JointPolicy if self._profile.family is Family.JOINT else FinancialKind)
            known = " or ".join(c.value for c in choices)
            raise self._error(f"{value!r} is not a {self._option} (known: {known})", number,
                              self._option) from None

    def _password(self, number: int, password: str, password_file: str) -> str | None:
        if password and password_file:
            raise self._error("give password or password_file, not both", number,
                              "password_file")
        column = "password"
        if password:
            self._check_secret(number)
        elif password_file:
            column = "password_file"
            password = self._read_password_file(number, password_file)
        else:
            return None
        try:
            return check_password(password)
        except PKIError as exc:
            raise self._error(str(exc), number, column, exc) from None

    def _check_secret(self, number: int) -> None:
        if self._secret_checked:
            return
        mode = os.fstat(self._fh.fileno()).st_mode
        if mode & _SECRET_MODE_BITS:
            raise self._error(
                f"the file holds passwords and other users may read or write it (mode "
                f"{mode & 0o777:04o}): chmod 600 {self._shown}", number, "password")
        self._secret_checked = True

    def _read_password_file(self, number: int, name: str) -> str:
        def refuse(reason: str) -> BatchFileError:
            return self._error(reason, number, "password_file")

        # Confined to the batch file's folder (symbolic links resolved): a batch file from
        # someone else must not make another of the user's secrets a key password, nor
        # learn its length from an error message.
        folder = self._path.parent.resolve()
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise refuse(f"{name} is not inside the batch file's folder: name a file there "
                         "by its relative name")
        target = self._path.parent / relative
        try:
            if not target.resolve(strict=True).is_relative_to(folder):
                raise refuse(f"{name} leads out of the batch file's folder (a symbolic "
                             "link): keep password files in it")
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise refuse(f"cannot read {target}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise refuse(f"{target} is not a regular file")
            data = fh.readline(MAX_LINE_BYTES + 2)
        line = data.rstrip(b"\r\n") if data.endswith(b"\n") else data
        if len(line) > MAX_LINE_BYTES:
            raise refuse(f"the first line of {target} is longer than {MAX_LINE_BYTES} bytes")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse(f"{target} is not UTF-8 text") from None
        if not text:
            raise refuse(f"{target} is empty")
        return text


class _DoubledKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_doubles(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DoubledKey(key)
        out[key] = value
    return out
