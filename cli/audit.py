"""``kpki audit``: read the store's append-only audit log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import click

from pki.clock import KST
from pki.store import AuditAction, AuditEvent

from .cert import parse_serial
from .context import Context
from .output import TimeParamType, emit_list, iso, list_options, one_list_format, serial_hex, table


class TimeParam(TimeParamType):
    """``YYYY-MM-DD`` (00:00 KST that day) or ISO 8601 date and time, in KST unless it
    carries an offset or ``Z``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                return dt.datetime.combine(day, dt.time(), KST)
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a time: give YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS] "
                      "in KST, or with an offset (+09:00, Z)", param, ctx)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=KST)


def _shown(at: dt.datetime, zone: dt.tzinfo) -> str:
    return at.astimezone(zone).isoformat(sep=" ")


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "action": event.action,
        "ca": event.ca,
        "serial": None if event.serial is None else serial_hex(event.serial),
        "detail": dict(event.detail),
    }


def _detail_text(detail: dict[str, Any]) -> str:
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                    for k, v in detail.items())


_FAMILIES = tuple(dict.fromkeys(a.value.split(".")[0] for a in AuditAction))


def _wanted(event: AuditEvent, since: dt.datetime | None, actions: Sequence[str]) -> bool:
    if since is not None and event.at < since:
        return False
    return not actions or any(event.action == a or event.action.startswith(a + ".")
                              for a in actions)


@click.command("audit")
@click.option("--serial", "number", metavar="SERIAL",
              callback=lambda ctx, param, value: None if value is None
              else parse_serial(value, option="--serial"),
              help="Only events about this certificate (hex serial).")
@click.option("--since", type=TimeParam(),
              help="Only events at or after TIME: YYYY-MM-DD (from 00:00 KST) or "
                   "YYYY-MM-DDTHH:MM[:SS] (KST unless it has an offset).")
@click.option("--action", "actions", multiple=True, metavar="ACTION",
              help="Only this action, or a family of them (certificate matches "
                   "certificate.issued, certificate.revoked, ...); repeatable. Families: "
                   + ", ".join(_FAMILIES) + ".")
@click.option("--ca", "ca_label", metavar="LABEL", help="Only events of this CA.")
@click.option("--utc", is_flag=True, help="Show times in UTC instead of KST.")
@list_options
@click.pass_obj
def audit(obj: Context, number: int | None, since: dt.datetime | None, actions: tuple[str, ...],
          ca_label: str | None, utc: bool, as_jsonl: bool, as_json: bool) -> None:
    """Show the audit log: every change to the home, oldest first.

    Times are KST with their offset (--utc for UTC); in JSON they are ISO 8601 in UTC
    (2027-10-23T00:00:00Z), as in every command's JSON.
    """
    one_list_format(as_json=as_json, as_jsonl=as_jsonl)
    zone: dt.tzinfo = dt.UTC if utc or obj.utc else KST  # its --utc or the global one
    with obj.open_home() as home:
        if ca_label is not None:
            home.store.get_ca(ca_label)  # an unknown label is an error, not an empty log
        # The store's audit_log filters by CA and serial; --since and --action are applied
        # here until the protocol has them.
        events = [e for e in home.store.audit_log(ca=ca_label, serial=number)
                  if _wanted(e, since, actions)]
    if emit_list([_event_json(e) for e in events], as_json=as_json, as_jsonl=as_jsonl):
        return
    if events:
        table(["TIME", "ACTION", "CA", "SERIAL", "DETAIL"],
              [[_shown(e.at, zone), e.action, e.ca or "-",
                "-" if e.serial is None else serial_hex(e.serial),
                _detail_text(dict(e.detail))] for e in events])
    else:
        click.echo("no audit events match", err=True)
