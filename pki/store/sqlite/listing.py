"""Certificates listed page by page in serial order (``kpki cert list`` over millions).

A listing never holds more than one page: each page is one query that seeks to where the
last one ended (keyset paging, never ``OFFSET``, whose cost grows with the position), so
the first rows come at once and memory stays flat however large the store.

Order: the CAs in the order they were made, and each CA's certificates by serial,
numerically. Serials are stored as upper-case hex text without leading zeros, so numeric
order is by length, then by text; the index ``certificates_by_serial`` holds exactly that
(``ca_id, length(serial), serial``). A page continues within the current length, and only
when that is exhausted moves on to the longer serials: each of the two queries is a seek in
the index (one query comparing the pair ``(length, serial)`` would scan the length's whole
run from its start, in SQLite).

The SQL is portable (``?`` placeholders, ``length()``, ``LIMIT``): the PostgreSQL backend
reuses this mixin.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import UnknownCAError
from ..records import CertificateRecord, CertStatus
from .certificates import _CERT_COLUMNS, _cert_record
from .common import SQLiteConnection, hex_serial

__all__ = ["PAGE_SIZE", "CertificateListingSQL"]

PAGE_SIZE = 500
"""Certificates a listing reads at a time (bounds its memory)."""

_SELECT = f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "


class CertificateListingSQL(SQLiteConnection):
    """Listing reads of the CA side; mixed into the store."""

    def certificate_pages(self, *, ca: str | None = None,
                          after: tuple[str, int] | None = None,
                          status: CertStatus | None = None, profile: str | None = None,
                          holder: str | None = None, page_size: int = PAGE_SIZE
                          ) -> Iterator[list[CertificateRecord]]:
        """The certificates (of ``ca``, else of every CA; filtered by ``status``,
        ``profile`` and ``holder``) in listing order (see the module doc), at most
        ``page_size`` at a time, starting after position ``after`` = (CA label, serial)
        when given. Raises :class:`UnknownCAError` for an unknown ``ca`` or CA of ``after``.
        """
        if page_size < 1:
            raise ValueError("a page holds at least one certificate")
        every = [(int(row[0]), str(row[1]))
                 for row in self._query("SELECT id, label FROM cas ORDER BY id")]
        labels = [label for _, label in every]
        for label in (ca, after and after[0]):
            if label is not None and label not in labels:
                raise UnknownCAError(label)
        first = 0 if after is None else labels.index(after[0])
        cas = [(ca_id, label) for ca_id, label in every[first:] if ca in (None, label)]
        start: tuple[int, str] | None = None
        if after is not None:
            text = hex_serial(after[1])
            start = (len(text), text)
        filters, params = [], []
        for column, value in (("c.status", status and status.value), ("c.profile", profile),
                              ("c.holder", holder)):
            if value is not None:
                filters.append(f" AND {column} = ?")
                params.append(value)
        where = "".join(filters)
        for ca_id, label in cas:
            yield from self._pages_of(ca_id, where, params, page_size,
                                      start if after is not None and label == after[0]
                                      else None)

    def _pages_of(self, ca_id: int, where: str, params: Sequence[Any], page_size: int,
                  start: tuple[int, str] | None) -> Iterator[list[CertificateRecord]]:
        while True:
            if start is None:
                rows = self._query(f"{_SELECT}WHERE c.ca_id = ?{where} "
                                   "ORDER BY length(c.serial), c.serial LIMIT ?",
                                   (ca_id, *params, page_size))
            else:
                length, serial = start
                rows = self._query(f"{_SELECT}WHERE c.ca_id = ? AND length(c.serial) = ? "
                                   f"AND c.serial > ?{where} ORDER BY c.serial LIMIT ?",
                                   (ca_id, length, serial, *params, page_size))
                if not rows:  # this length is done: the longer serials
                    rows = self._query(f"{_SELECT}WHERE c.ca_id = ? AND length(c.serial) > ?"
                                       f"{where} ORDER BY length(c.serial), c.serial LIMIT ?",
                                       (ca_id, length, *params, page_size))
            if not rows:
                return
            yield [_cert_record(row) for row in rows]
            last = str(rows[-1][1])
            start = (len(last), last)

    def replaced_by(self, ca: str, serials: Sequence[int]) -> dict[int, list[int]]:
        """Of ``serials`` (certificates of ``ca``), those renewed or reissued: the serials
        that replaced each, oldest first. One read for a page of a listing."""
        if not serials:
            return {}
        marks = ", ".join("?" * len(serials))
        rows = self._query(
            "SELECT c.replaces, c.serial FROM certificates c JOIN cas ON cas.id = c.ca_id "
            f"WHERE cas.label = ? AND c.replaces IN ({marks}) ORDER BY c.id",
            (ca, *(hex_serial(s) for s in serials)))
        found: dict[int, list[int]] = {}
        for replaced, serial in rows:
            found.setdefault(int(replaced, 16), []).append(int(serial, 16))
        return found
