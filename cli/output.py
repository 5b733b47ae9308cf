"""Output helpers: JSON for scripts, aligned tables for people, and the one way times are
read (:class:`TimeType`) and shown (:func:`shown`: KST with its offset, UTC with ``--utc``;
JSON always ISO 8601 with an offset, :func:`iso`)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from pki.clock import KST, parse_time

from .context import Context

if TYPE_CHECKING:
    from pki.store import CertificateRecord


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON instead of text.")(f)


def list_options(f: Any) -> Any:
    """``--json`` and ``--jsonl`` for a command that lists (:func:`emit_list`)."""
    f = click.option("--jsonl", "as_jsonl", is_flag=True,
                     help="Print one JSON object per line instead of text.")(f)
    return json_option(f)


def one_list_format(*, as_json: bool, as_jsonl: bool) -> None:
    """``--json`` and ``--jsonl`` together are a usage error (checked before any work)."""
    if as_json and as_jsonl:
        raise click.UsageError("--json and --jsonl do not go together: choose one")


def emit_list(rows: Sequence[Any], *, as_json: bool, as_jsonl: bool,
              document: Any = None) -> bool:
    """Print ``rows`` as JSON (``document`` if given, else the list) or JSON lines (one
    row a line); ``False`` when neither was asked for (the caller prints text)."""
    one_list_format(as_json=as_json, as_jsonl=as_jsonl)
    if as_json:
        emit_json(rows if document is None else document)
    elif as_jsonl:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False, default=_default))
    return as_json or as_jsonl


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    raise TypeError(type(value).__name__)


def iso(value: dt.datetime) -> str:
    """``value`` for JSON: ISO 8601 in UTC with its offset (``Z``), whatever ``--utc``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(value: dt.datetime) -> str:
    """``value`` for people: ``2027-10-23 09:00:00+09:00`` (KST), or in UTC with the
    global ``--utc`` (``2027-10-23 00:00:00+00:00``)."""
    ctx = click.get_current_context(silent=True)
    obj = None if ctx is None else ctx.find_object(Context)
    zone = dt.UTC if obj is not None and obj.utc else KST
    return value.astimezone(zone).replace(microsecond=0).isoformat(sep=" ")


def shown_iso(text: str) -> str:
    """A value as :func:`iso` wrote it (``2027-10-23T00:00:00Z``, a command's JSON
    field) shown as :func:`shown` shows it; any other text as it is."""
    if _ISO.fullmatch(text) is None:
        return text
    return shown(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC))


_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def shown_day(value: dt.datetime) -> str:
    """The calendar date of ``value`` in the zone :func:`shown` uses."""
    return shown(value)[:10]


if TYPE_CHECKING:  # generic from click 8.4 on; kpki also runs on 8.1 to 8.3
    TimeParamType = click.ParamType[dt.datetime, Any]
else:
    TimeParamType = click.ParamType


class TimeType(TimeParamType):
    """A TIME option: an ISO 8601 date or date-time, KST unless it has an offset (``Z``,
    ``+09:00``); a date alone is 00:00 KST that day. Converts to an aware UTC datetime."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=KST)
        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def display_status(record: CertificateRecord, now: dt.datetime) -> str:
    from pki.store import CertStatus  # on use: kpki verify reads no store records

    if record.status is CertStatus.VALID and record.is_expired(now):
        return "expired"
    return record.status.value


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True))

    click.echo(line(headers).rstrip())
    for row in rows:
        click.echo(line(row).rstrip())


def stream_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *,
                 sample: int = 500) -> None:
    """:func:`table` printed as the rows come (constant memory): the first ``sample`` rows
    set the column widths; a wider cell later pushes the rest of its line along."""
    rows = iter(rows)
    first = list(itertools.islice(rows, sample))
    widths = [max([_width(h)] + [_width(r[i]) for r in first]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * max(w - _width(c), 0)
                         for c, w in zip(cells, widths, strict=True))

    click.echo(line(headers).rstrip())
    for row in itertools.chain(first, rows):
        click.echo(line(row).rstrip())


def fields(pairs: Mapping[str, str]) -> None:
    """``key: value`` lines, aligned; times from :func:`iso` shown as :func:`shown` does."""
    width = max(len(k) for k in pairs)
    for key, value in pairs.items():
        click.echo(f"{key + ':':<{width + 1}} {shown_iso(value)}")
