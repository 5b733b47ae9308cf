"""``kpki issue joint|financial --from FILE``: a batch file, all or nothing, and its manifest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from pki.authority import IssueStep
from pki.fsutil import atomic_write
from pki.keys.password import check_password
from pki.profiles import FinancialKind, JointPolicy
from pki.usecases.batch import BatchOrder, IssuedBatch, issue_batch

from .context import Context
from .output import emit_json, iso, serial_hex
from .params import check_out_file
from .progress import ProgressLine
from .secrets import ca_passphrase, key_password

_WORDS = {IssueStep.PREPARE: "making keys", IssueStep.ISSUE: "issuing",
          IssueStep.DELIVER: "writing folders"}


def manifest_lines(done: IssuedBatch) -> list[str]:
    """One JSON object a line per row issued: row, serial, name, profile, folder, not_after."""
    lines = []
    for entry in done.entries:
        cert = entry.issued.certificate
        info: dict[str, Any] = {
            "row": entry.row,
            "serial": serial_hex(entry.issued.serial),
            "name": entry.name,
            "profile": entry.issued.profile.name,
            "folder": str(entry.folder),
            "not_after": iso(cert.not_valid_after_utc),
        }
        if entry.issued.key_management is not None:
            info["km_serial"] = serial_hex(entry.issued.key_management.serial)
        lines.append(json.dumps(info, ensure_ascii=False))
    return lines


class _Progress:
    """``kpki: making keys 120/1000 12%`` on stderr, rewritten in place; only on a terminal
    (:class:`cli.progress.ProgressLine` for :meth:`issue_many`'s steps)."""

    def __init__(self) -> None:
        self._line = ProgressLine()

    def __call__(self, step: IssueStep, done: int, total: int) -> None:
        self._line.show(_WORDS[step], done, total)

    def close(self) -> None:
        self._line.close()


def run_batch(obj: Context, *, path: Path, profile: JointPolicy | FinancialKind, ra: str,
              out: Path, ca_label: str | None, force: bool, serial_bits: int | None,
              with_km: bool, password_file: Path | None, passphrase_file: Path | None,
              manifest: Path | None, as_json: bool, not_before: dt.datetime | None,
              not_after: dt.datetime | None) -> None:
    order = BatchOrder(path=path, out=out, profile=profile, ra=ra, ca=ca_label,
                       with_km=with_km, replace=force, serial_bits=serial_bits,
                       not_before=not_before, not_after=not_after)
    to_file = manifest is not None and str(manifest) != "-"
    if to_file:
        check_out_file(manifest, force=force, option="--manifest")
    # Every row is checked before any secret is asked for.
    batch = order.read()
    with obj.open_home() as home:
        order.ca_label(home, batch)
        password = (check_password(key_password(password_file)) if batch.needs_password
                    else None)
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        progress = _Progress()
        try:
            done = issue_batch(home, order, password=password, passphrase=passphrase,
                               batch=batch, progress=progress)
        finally:
            progress.close()
    lines = manifest_lines(done)
    if not to_file:
        for line in lines:
            click.echo(line)
        return
    assert manifest is not None
    atomic_write(manifest, "".join(line + "\n" for line in lines).encode())
    summary = {"issued": len(lines), "from": str(path), "out": str(out.absolute()),
               "manifest": str(manifest)}
    if as_json:
        emit_json(summary)
    else:
        plural = "" if len(lines) == 1 else "s"
        click.echo(f"Issued {len(lines)} certificate{plural} from {path} into {out}; "
                   f"manifest {manifest}")
