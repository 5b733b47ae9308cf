"""The CA side of the SQLite store: CAs, certificates, revocation, CRLs (history, numbers and
published bytes), OCSP signers, deliveries and the audit log.

:class:`CertificateWritesSQL` is mixed into the transaction, :class:`CertificateReadsSQL`
into the store; both run on the store's one connection.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cryptography import x509

from ...errors import (
    CertificateNotFoundError,
    ClockBehindError,
    SerialInUseError,
    StoreError,
    UnknownCAError,
)
from ..records import (
    AuditAction,
    AuditEvent,
    CARecord,
    CertificateRecord,
    CertStatus,
    CRLEntry,
    CRLInfo,
    DeliveryRecord,
    KeyOrigin,
    OCSPSignerRecord,
    PublishedCRL,
)
from .common import (
    Connection,
    SQLiteConnection,
    hex_serial,
    opt_ts,
    parse_ts,
    reason_of,
    ts,
    ts_or_none,
)

__all__ = ["CertificateReadsSQL", "CertificateWritesSQL"]

_AUDIT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
"""How an audit row's detail is written: json.dumps with these options, without building
an encoder for each row (a third of its cost for a transfer's detail)."""

_CERT_COLUMNS = ("cas.label, c.serial, c.subject, c.holder, c.profile, c.status, "
                 "c.not_before, c.not_after, c.der, c.issued_at, c.key_origin, c.revoked_at, "
                 "c.reason, c.invalidity_date, c.status_changed_at, c.ra, c.alias, c.replaces, "
                 "c.crl_shard")
_DELIVERY_COLUMNS = ("cas.label, d.serial, d.folder, d.staging, d.recorded_at, "
                     "d.delivered_at")
_PENDING_DELIVERIES = (f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN cas ON "
                       "cas.id = d.ca_id WHERE d.delivered_at IS NULL")
_SIGNER_COLUMNS = "cas.label, s.serial, s.der, s.not_after, s.key_label, s.issued_at"
_INSERT_CERTIFICATE = (
    "INSERT INTO certificates (ca_id, serial, subject, holder, profile, status, not_before, "
    "not_after, der, issued_at, key_origin, ra, alias, replaces, revoked_at, reason, "
    "invalidity_date, status_changed_at, crl_shard) VALUES ")
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_ROWS_PER_INSERT = 1000
"""19,000 parameters a statement: under SQLite's limit (32,766) and PostgreSQL's (65,535)."""
_BLOB_PIECE = 1 << 20
"""Bytes of a large CRL written into its row at a time (SQLite)."""


def _cert_record(row: Sequence[Any]) -> CertificateRecord:
    return CertificateRecord(
        ca=row[0], serial=int(row[1], 16), subject=row[2], holder=row[3], profile=row[4],
        status=CertStatus(row[5]), not_before=parse_ts(row[6]), not_after=parse_ts(row[7]),
        der=bytes(row[8]), issued_at=parse_ts(row[9]), key_origin=KeyOrigin(row[10]),
        revoked_at=opt_ts(row[11]), reason=reason_of(row[12]),
        invalidity_date=opt_ts(row[13]), status_changed_at=opt_ts(row[14]), ra=row[15],
        alias=row[16], replaces=None if row[17] is None else int(row[17], 16),
        crl_shard=row[18],
    )


def _delivery_records(rows: Sequence[Any]) -> list[DeliveryRecord]:
    return [DeliveryRecord(ca=r[0], serial=int(r[1], 16), folder=r[2], staging=r[3],
                           recorded_at=parse_ts(r[4]), delivered_at=opt_ts(r[5]))
            for r in rows]


def _crl_entry(row: tuple[Any, ...]) -> CRLEntry:
    return CRLEntry(int(row[0], 16), parse_ts(row[1]), reason_of(row[2]), opt_ts(row[3]))


class CertificateWritesSQL(SQLiteConnection):
    """Writes of the CA side; mixed into the store's transaction."""

    _cursor: Connection
    _time_order: bool
    _ca_ids: dict[str, int]  # CA rows are never deleted or relabelled
    _latest: dict[int, str]
    """Each CA's latest event time as this transaction left it (emptied as each begins:
    under the write lock no one else moves it)."""

    def _ca_id(self, label: str) -> int:
        cached = self._ca_ids.get(label)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT id FROM cas WHERE label = ?", (label,)).fetchone()
        if row is None:
            raise UnknownCAError(label)
        self._ca_ids[label] = int(row[0])
        return int(row[0])

    def reserve_cn_sequence(self, ca: str, count: int = 1) -> int:
        if count < 1:
            raise ValueError("reserve at least one sequence number")
        row = self._conn.execute(
            "UPDATE cas SET cn_sequence = cn_sequence + ? WHERE label = ? "
            "RETURNING cn_sequence", (count, ca)
        ).fetchone()
        if row is None:
            raise UnknownCAError(ca)
        return int(row[0]) - count + 1

    def put_ca(self, record: CARecord) -> None:
        parent_id = self._ca_id(record.parent) if record.parent else None
        added = self._conn.execute(
            "INSERT INTO cas (label, parent_id, style, der, crl_url, ocsp_url, cps_url, "
            "created_at, crl_shards) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (record.label, parent_id, record.style, record.der, record.crl_url,
             record.ocsp_url, record.cps_url, ts(record.created_at), record.crl_shards),
        ).rowcount
        if added != 1:
            raise StoreError(f"a CA labelled {record.label!r} exists already")

    def set_crl_shards(self, ca: str, shards: int) -> None:
        self._conn.execute("UPDATE cas SET crl_shards = ? WHERE id = ?",
                           (shards, self._ca_id(ca)))

    def event_time(self, ca: str, at: dt.datetime) -> dt.datetime:
        """``at``, or the latest time recorded for an event of ``ca`` if the clock has gone
        back past it; the CA's latest time moves on to the result."""
        return self._advance(self._ca_id(ca), at)

    def _advance(self, ca_id: int, at: dt.datetime) -> dt.datetime:
        if not self._time_order:
            return at
        text = ts(at)
        latest = self._latest.get(ca_id)
        if latest is None:
            # Read before writing: an event in the same second as the CA's last one (most
            # issuances of a busy CA) then leaves the CA's row, and its page, unwritten.
            (latest,) = self._conn.execute("SELECT last_event_at FROM cas WHERE id = ?",
                                           (ca_id,)).fetchone()
            if latest is not None:
                self._latest[ca_id] = latest
        if latest is None or latest < text:  # else nothing to write (issue_many's rows)
            (latest,) = self._conn.execute(
                "UPDATE cas SET last_event_at = CASE WHEN last_event_at >= ? THEN "
                "last_event_at ELSE ? END WHERE id = ? RETURNING last_event_at",
                (text, text, ca_id)).fetchone()
            self._latest[ca_id] = latest
        return at if latest == text else parse_ts(latest)

    def _certificate_row(self, record: CertificateRecord) -> tuple[Any, ...]:
        """``record`` as the values of :data:`_INSERT_CERTIFICATE` (its time as
        :meth:`event_time` gives it)."""
        ca_id = self._ca_id(record.ca)
        issued_at = self._advance(ca_id, record.issued_at)
        return (ca_id, hex_serial(record.serial), record.subject, record.holder,
                record.profile, record.status.value, ts(record.not_before),
                ts(record.not_after), record.der, ts(issued_at),
                record.key_origin.value, record.ra, record.alias,
                None if record.replaces is None else hex_serial(record.replaces),
                ts_or_none(record.revoked_at),
                None if record.reason is None else record.reason.value,
                ts_or_none(record.invalidity_date),
                ts_or_none(record.status_changed_at),
                record.crl_shard)

    def put_certificate(self, record: CertificateRecord) -> None:
        added = self._cursor.execute(_INSERT_CERTIFICATE + _ROW + " ON CONFLICT DO NOTHING",
                                     self._certificate_row(record)).rowcount
        if added != 1:
            # Only UNIQUE (serial, ca_id) can refuse the row; nothing failed, so the
            # transaction goes on (and the audit trigger did not fire).
            raise SerialInUseError(record.serial, ca=record.ca)

    def put_certificates(self, records: Sequence[CertificateRecord]
                         ) -> list[CertificateRecord]:
        # One multi-row INSERT per _ROWS_PER_INSERT records; the rows ON CONFLICT skips
        # are the serials in use (RETURNING names the others). A serial twice in one
        # statement would be skipped the second time on both backends, and indistinct
        # in what RETURNING gives, hence the ValueError.
        if len({(r.ca, r.serial) for r in records}) != len(records):
            raise ValueError("a batch of certificates names one serial of a CA twice")
        rows = [self._certificate_row(r) for r in records]
        added: set[tuple[int, str]] = set()
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start:start + _ROWS_PER_INSERT]
            added.update((int(ca_id), serial) for ca_id, serial in self._conn.execute(
                _INSERT_CERTIFICATE + ", ".join([_ROW] * len(chunk))
                + " ON CONFLICT DO NOTHING RETURNING ca_id, serial",
                [value for row in chunk for value in row]).fetchall())
        return [record for record, row in zip(records, rows, strict=True)
                if (row[0], row[1]) not in added]

    def audit(self, action: AuditAction, *, at: dt.datetime, ca: str | None = None,
              serial: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        if ca is not None:
            ca_id = self._ca_ids.get(ca)
            if ca_id is None:
                row = self._conn.execute("SELECT id FROM cas WHERE label = ?", (ca,)).fetchone()
                ca_id = None if row is None else self._ca_ids.setdefault(ca, int(row[0]))
            if ca_id is not None:
                at = self._advance(ca_id, at)
        self._conn.execute(
            "INSERT INTO audit (at, action, ca, serial, detail) VALUES (?, ?, ?, ?, ?)",
            (ts(at), str(action), ca, None if serial is None else hex_serial(serial),
             _AUDIT_JSON.encode(dict(detail or {}))),
        )

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           (key, value))

    def get_certificate(self, ca: str, serial: int) -> CertificateRecord | None:
        row = self._conn.execute(
            f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "
            "WHERE c.serial = ? AND c.ca_id = ?",
            (hex_serial(serial), self._ca_id(ca))).fetchone()
        return None if row is None else _cert_record(row)

    def set_status(self, ca: str, serial: int, *, status: CertStatus, at: dt.datetime,
                   revoked_at: dt.datetime | None, reason: x509.ReasonFlags | None,
                   invalidity_date: dt.datetime | None) -> None:
        ca_id = self._ca_id(ca)
        event_at = self._advance(ca_id, at)
        if revoked_at is not None and revoked_at == at:  # put on the CRL by this event
            revoked_at = event_at
        (seq,) = self._conn.execute(
            "UPDATE cas SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq",
            (ca_id,)).fetchone()
        cursor = self._conn.execute(
            "UPDATE certificates SET status = ?, revoked_at = ?, reason = ?, "
            "invalidity_date = ?, status_changed_at = ?, change_seq = ? "
            "WHERE serial = ? AND ca_id = ?",
            (status.value, ts_or_none(revoked_at),
             None if reason is None else reason.value,
             ts_or_none(invalidity_date), ts(event_at), seq,
             hex_serial(serial), ca_id))
        if cursor.rowcount != 1:
            raise CertificateNotFoundError(serial, ca=ca)

    def reserve_crl(self, ca: str, at: dt.datetime) -> tuple[int, dt.datetime]:
        ca_id = self._ca_id(ca)
        (last,) = self._conn.execute("SELECT last_crl_at FROM cas WHERE id = ?",
                                     (ca_id,)).fetchone()
        if self._time_order and last is not None and ts(at) < last:
            raise ClockBehindError(ca=ca, at=at.replace(microsecond=0), last=parse_ts(last))
        this_update = self._advance(ca_id, at)
        (number,) = self._conn.execute(
            "UPDATE cas SET crl_number = crl_number + 1, last_crl_at = ? WHERE id = ? "
            "RETURNING crl_number", (ts(this_update), ca_id)).fetchone()
        return int(number), this_update

    def record_crl(self, info: CRLInfo) -> None:
        self._conn.execute(
            "INSERT INTO crls (ca_id, number, delta_base, this_update, next_update, "
            "change_seq, entries, sha256, shard) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self._ca_id(info.ca), info.number, info.delta_base, ts(info.this_update),
             ts(info.next_update), info.change_seq, info.entries, info.sha256, info.shard))

    def put_published_crl(self, ca: str, number: int, delta: bool, der: bytes, *,
                          shard: int | None = None) -> bool:
        if shard is not None:
            if delta:
                raise ValueError("a CRL shard has no delta CRLs")
            return self._upsert_crl(
                "INSERT INTO published_shard_crls (ca_id, shard, number, der) "
                "VALUES (?, ?, ?, {der}) ON CONFLICT (ca_id, shard) DO UPDATE SET "
                "number = excluded.number, der = excluded.der "
                "WHERE excluded.number > published_shard_crls.number",
                "published_shard_crls", (self._ca_id(ca), shard, number), der)
        return self._upsert_crl(
            "INSERT INTO published_crls (ca_id, delta, number, der) VALUES (?, ?, ?, {der}) "
            "ON CONFLICT (ca_id, delta) DO UPDATE SET number = excluded.number, "
            "der = excluded.der WHERE excluded.number > published_crls.number",
            "published_crls", (self._ca_id(ca), int(delta), number), der)

    def _upsert_crl(self, sql: str, table: str, params: tuple[Any, ...], der: bytes) -> bool:
        """Run ``sql`` (an upsert whose ``{der}`` stands for the CRL's bytes); whether it
        wrote the row.

        On SQLite a large CRL goes in as a zeroblob of its size, then is written into it in
        pieces through SQLite's blob I/O (this part's one SQLite-only statement, ``RETURNING
        rowid``): bound as a parameter, SQLite copies the bytes and builds the row around
        them again, two more copies of a 50 MB CRL at the peak memory of ``kpki crl
        publish`` (issue 18)."""
        blobopen = getattr(self._conn, "blobopen", None)
        if blobopen is None or len(der) < _BLOB_PIECE:
            return self._conn.execute(sql.format(der="?"), (*params, der)).rowcount == 1
        row = self._conn.execute(sql.format(der="zeroblob(?)") + " RETURNING rowid",
                                 (*params, len(der))).fetchone()
        if row is None:  # a newer CRL is kept already
            return False
        with blobopen(table, "der", row[0]) as blob, memoryview(der) as view:
            for start in range(0, len(der), _BLOB_PIECE):
                blob.write(view[start:start + _BLOB_PIECE])
        return True

    def put_ocsp_signer(self, record: OCSPSignerRecord) -> None:
        self._conn.execute(
            "INSERT INTO ocsp_signers (ca_id, serial, der, not_after, key_label, issued_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self._ca_id(record.ca), hex_serial(record.serial), record.der,
             ts(record.not_after), record.key_label, ts(record.issued_at)))

    def record_delivery(self, record: DeliveryRecord) -> None:
        self._conn.execute(
            "INSERT INTO deliveries (ca_id, serial, folder, staging, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (self._ca_id(record.ca), hex_serial(record.serial), record.folder,
             record.staging, ts(record.recorded_at)))

    def mark_delivered(self, ca: str, serial: int, *, at: dt.datetime) -> bool:
        ca_id = self._ca_id(ca)
        at = self._advance(ca_id, at)
        row = self._conn.execute(
            "UPDATE deliveries SET delivered_at = ? WHERE ca_id = ? AND serial = ? "
            "AND delivered_at IS NULL RETURNING folder",
            (ts(at), ca_id, hex_serial(serial))).fetchone()
        if row is None:
            return False
        self.audit(AuditAction.CERTIFICATE_DELIVERED, at=at, ca=ca, serial=serial,
                   detail={"folder": row[0]})
        return True

    def pending_deliveries(self) -> list[DeliveryRecord]:
        return _delivery_records(self._conn.execute(_PENDING_DELIVERIES).fetchall())


class CertificateReadsSQL(SQLiteConnection):
    """Reads of the CA side; mixed into the store."""

    _ca_id_cache: dict[str, int]

    def _ca_id_of(self, ca: str) -> int:
        cached = self._ca_id_cache.get(ca)
        if cached is not None:
            return cached
        rows = self._query("SELECT id FROM cas WHERE label = ?", (ca,))
        if not rows:
            raise UnknownCAError(ca)
        self._ca_id_cache[ca] = int(rows[0][0])  # CA rows are never deleted or relabelled
        return int(rows[0][0])

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def _ca_rows(self, where: str = "", params: Sequence[Any] = ()) -> list[CARecord]:
        rows = self._query(
            "SELECT c.label, p.label, c.style, c.der, c.crl_url, c.ocsp_url, c.cps_url, "
            "c.created_at, c.crl_shards FROM cas c LEFT JOIN cas p ON p.id = c.parent_id "
            f"{where} ORDER BY c.id", params)
        return [CARecord(label=r[0], parent=r[1], style=r[2], der=bytes(r[3]), crl_url=r[4],
                         ocsp_url=r[5], cps_url=r[6], created_at=parse_ts(r[7]),
                         crl_shards=int(r[8]))
                for r in rows]

    def get_ca(self, label: str) -> CARecord:
        rows = self._ca_rows("WHERE c.label = ?", (label,))
        if not rows:
            raise UnknownCAError(label)
        return rows[0]

    def list_cas(self) -> list[CARecord]:
        return self._ca_rows()

    def find_certificates(self, serial: int, *, ca: str | None = None
                          ) -> list[CertificateRecord]:
        sql = (f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "
               "WHERE c.serial = ?")
        params: list[Any] = [hex_serial(serial)]
        if ca is not None:
            sql += " AND cas.label = ?"
            params.append(ca)
        return [_cert_record(r) for r in self._query(sql, params)]

    def list_certificates(self, *, ca: str | None = None, status: CertStatus | None = None,
                          profile: str | None = None, holder: str | None = None
                          ) -> list[CertificateRecord]:
        clauses, params = [], []
        # The CA by its id, not its label through the join: with the id as a value,
        # PostgreSQL's planner sees that a small CA (the root and its TSA certificates) has
        # few rows and reads them by index, where a label made it walk every certificate in
        # id order (2 s a call at 1,000,000, three calls at kpki serve's start-up).
        ca_id = None
        if ca is not None:
            try:
                ca_id = self._ca_id_of(ca)
            except UnknownCAError:
                return []
        for column, value in (("c.ca_id", ca_id), ("c.status", status and status.value),
                              ("c.profile", profile), ("c.holder", holder)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "
            f"{where} ORDER BY c.id", params)
        return [_cert_record(r) for r in rows]

    def count_certificates(self) -> int:
        return int(self._query("SELECT count(*) FROM certificates")[0][0])

    def audit_log(self, *, ca: str | None = None, serial: int | None = None
                  ) -> list[AuditEvent]:
        clauses, params = [], []
        if ca is not None:
            clauses.append("ca = ?")
            params.append(ca)
        if serial is not None:
            clauses.append("serial = ?")
            params.append(hex_serial(serial))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT id, at, action, ca, serial, detail FROM audit {where} ORDER BY id", params)
        return [AuditEvent(id=r[0], at=parse_ts(r[1]), action=r[2], ca=r[3],
                           serial=None if r[4] is None else int(r[4], 16),
                           detail=json.loads(r[5])) for r in rows]

    def change_seq(self, ca: str) -> int:
        rows = self._query("SELECT change_seq FROM cas WHERE label = ?", (ca,))
        if not rows:
            raise UnknownCAError(ca)
        return int(rows[0][0])

    def last_crl(self, ca: str, *, delta: bool = False, shard: int | None = None
                 ) -> CRLInfo | None:
        in_shard = "crls.shard IS NULL" if shard is None else "crls.shard = ?"
        rows = self._query(
            "SELECT crls.number, crls.delta_base, crls.this_update, crls.next_update, "
            "crls.change_seq, crls.entries, crls.sha256 FROM crls JOIN cas ON cas.id = "
            f"crls.ca_id WHERE cas.label = ? AND crls.delta_base IS {'NOT ' if delta else ''}"
            f"NULL AND {in_shard} ORDER BY crls.number DESC LIMIT 1",
            (ca,) if shard is None else (ca, shard))
        if not rows:
            return None
        r = rows[0]
        return CRLInfo(ca, r[0], r[1], parse_ts(r[2]), parse_ts(r[3]), r[4], r[5], r[6],
                       shard)

    def published_crl(self, ca: str, delta: bool = False, *, shard: int | None = None
                      ) -> PublishedCRL | None:
        if shard is not None:
            found = self._query("SELECT number, der FROM published_shard_crls WHERE "
                                "ca_id = ? AND shard = ?", (self._ca_id_of(ca), shard))
            if not found or delta:
                return None
            return PublishedCRL(ca=ca, number=int(found[0][0]), delta=False,
                                der=bytes(found[0][1]), shard=shard)
        rows = self._query("SELECT number, der FROM published_crls WHERE ca_id = ? AND "
                           "delta = ?", (self._ca_id_of(ca), int(delta)))
        if not rows:
            return None
        return PublishedCRL(ca=ca, number=int(rows[0][0]), delta=delta, der=bytes(rows[0][1]))

    def crl_entries(self, ca: str, *, at: dt.datetime, shard: int | None = None
                    ) -> Iterator[CRLEntry]:
        return map(_crl_entry, self._crl_rows(ca, at=at, shard=shard))

    def crl_entries_der(self, ca: str, *, at: dt.datetime, shard: int | None = None
                        ) -> Iterator[bytes]:
        from ...formats.crlder import stored_entries_der

        return stored_entries_der(self._crl_rows(ca, at=at, shard=shard))

    def _crl_rows(self, ca: str, *, at: dt.datetime, shard: int | None
                  ) -> Iterator[tuple[Any, ...]]:
        """The lines of a full CRL as the store keeps them (serial, time on the CRL, reason,
        invalidity date), in the order of issuance: read from the covering index
        certificates_crl_lines alone (migration 23), which holds the CA's certificates off
        the list in that order, so no row is looked up and nothing sorted."""
        in_shard = "crl_shard IS NULL" if shard is None else "crl_shard = ?"
        return self._stream(
            "SELECT serial, revoked_at, reason, invalidity_date FROM certificates "
            f"INDEXED BY certificates_crl_lines WHERE ca_id = ? AND {in_shard} "
            "AND status != 'valid' AND not_after >= ? ORDER BY id",
            (self._ca_id_of(ca), ts(at)) if shard is None else
            (self._ca_id_of(ca), shard, ts(at)))

    def changed_since(self, ca: str, change_seq: int, *, at: dt.datetime
                      ) -> Iterator[tuple[CertStatus, CRLEntry]]:
        rows = self._stream(
            "SELECT status, serial, coalesce(revoked_at, status_changed_at), reason, "
            "invalidity_date FROM certificates INDEXED BY certificates_changes "
            "WHERE ca_id = ? AND change_seq > 0 AND change_seq > ? AND not_after >= ? "
            "AND crl_shard IS NULL ORDER BY change_seq",
            (self._ca_id_of(ca), change_seq, ts(at)))
        for row in rows:
            yield CertStatus(row[0]), _crl_entry(row[1:])

    def status_of(self, ca: str, serial: int
                  ) -> tuple[CertStatus, dt.datetime | None, x509.ReasonFlags | None] | None:
        rows = self._query(
            "SELECT c.status, c.revoked_at, c.status_changed_at, c.reason FROM certificates c "
            "WHERE c.serial = ? AND c.ca_id = ?", (hex_serial(serial), self._ca_id_of(ca)))
        if not rows:
            return None
        status, revoked_at, changed_at, reason = rows[0]
        return CertStatus(status), opt_ts(revoked_at or changed_at), reason_of(reason)

    def renewals_of(self, ca: str, serial: int) -> list[int]:
        rows = self._query(
            "SELECT serial FROM certificates WHERE ca_id = ? AND replaces = ?",
            (self._ca_id_of(ca), hex_serial(serial)))
        return [int(r[0], 16) for r in rows]

    def replacements(self, *, ca: str | None = None) -> dict[tuple[str, int], list[int]]:
        sql = ("SELECT cas.label, c.replaces, c.serial FROM certificates c JOIN cas "
               "ON cas.id = c.ca_id WHERE c.replaces IS NOT NULL")
        params: list[Any] = []
        if ca is not None:
            sql += " AND cas.label = ?"
            params.append(ca)
        found: dict[tuple[str, int], list[int]] = {}
        for label, replaced, serial in self._query(sql + " ORDER BY c.id", params):
            found.setdefault((str(label), int(replaced, 16)), []).append(int(serial, 16))
        return found

    def suspended_before(self, ca: str, cutoff: dt.datetime) -> list[int]:
        rows = self._query(
            "SELECT serial FROM certificates INDEXED BY certificates_suspended "
            "WHERE ca_id = ? AND status = 'suspended' AND revoked_at < ?",
            (self._ca_id_of(ca), ts(cutoff)))
        return [int(r[0], 16) for r in rows]

    def ocsp_signer(self, ca: str) -> OCSPSignerRecord | None:
        rows = self._query(
            f"SELECT {_SIGNER_COLUMNS} FROM ocsp_signers s JOIN cas ON cas.id = s.ca_id "
            "WHERE s.ca_id = ? ORDER BY s.id DESC LIMIT 1", (self._ca_id_of(ca),))
        if not rows:
            return None
        r = rows[0]
        return OCSPSignerRecord(ca=r[0], serial=int(r[1], 16), der=bytes(r[2]),
                                not_after=parse_ts(r[3]), key_label=r[4],
                                issued_at=parse_ts(r[5]))

    def pending_deliveries(self, *, ca: str | None = None) -> list[DeliveryRecord]:
        sql, params = _PENDING_DELIVERIES, []
        if ca is not None:
            sql += " AND cas.label = ?"
            params.append(ca)
        return _delivery_records(self._query(sql + " ORDER BY d.recorded_at, d.rowid", params))
