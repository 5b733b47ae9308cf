"""What the ``kpki ra`` groups share (``joint``, ``private``, ``financial``): the desk opened
on the home, the ``--session`` option, a step's refusals with an unknown session said with
the option that fixes it, and a session shown as a line or JSON.

Apart from :mod:`cli.ra`, which imports each group to add it to ``kpki ra``: the groups
import this module, so it imports none of them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from pki.errors import BankNotFoundError
from pki.store import RaSessionRecord, RaStepRecord
from pki.usecases.ra import RegistrationDesk

from .bank import _refusals
from .context import Context
from .output import emit_json, iso
from .secrets import ca_passphrase

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def desk(obj: Context, *, passphrase_file: Path | None = None,
         issuing: bool = False) -> Iterator[RegistrationDesk]:
    """The registration desk on the home; ``issuing``: with the CA passphrase (from
    ``passphrase_file``, the environment or a prompt, where the keys are encrypted)."""
    with obj.open_home() as home:
        passphrase = (ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
                      if issuing else None)
        yield RegistrationDesk.of_home(home, passphrase=passphrase)


def session_option(opened_by: str) -> Callable[[F], F]:
    """``--session ID`` (the parameter ``session_id``), the session ``opened_by`` (a
    command, quoted) opened."""
    return click.option("--session", "session_id", required=True, metavar="ID",
                        help=f"The session {opened_by} opened.")


def hex_serial(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A click callback: a certificate's serial given in hex (none when not given)."""
    if value is None:
        return None
    try:
        return int(value, 16)
    except ValueError:
        raise click.BadParameter("a serial is hex (as 'kpki cert list' shows it)",
                                 ctx=ctx, param=param) from None


def session_refusals(start: str, **fields: str) -> Callable[[F], F]:
    """The bank's refusal lines (:func:`cli.bank._refusals`, ``fields`` mapping a request
    field to this group's option), and an unknown session said with the option that fixes
    it: an id ``start`` (a command) gave at this bank."""

    def wrap(f: F) -> F:
        @functools.wraps(f)
        def unknown_session(*args: Any, **kwargs: Any) -> Any:
            try:
                return f(*args, **kwargs)
            except BankNotFoundError as exc:
                if exc.what != "session":
                    raise
                raise click.ClickException(
                    f"{exc} [{exc.code}] (check --session: an id '{start}' gave at this "
                    "bank)") from None

        return _refusals(**fields)(unknown_session)  # type: ignore[return-value]

    return wrap


def show_session(record: RaSessionRecord, as_json: bool, *, next_step: str | None,
                 history: Iterable[RaStepRecord] | None = None) -> None:
    """A session: one line (and a line a step of its ``history`` when given), or JSON."""
    value: dict[str, Any] = {
        "session": record.id, "flow": record.flow, "state": record.state.value,
        "customer": record.customer_id, "steps_done": list(record.steps_done),
        "next_step": next_step, "expires_at": iso(record.expires_at),
        "data": dict(record.data)}
    if history is not None:
        value["history"] = [{"step": s.step, "accepted": s.accepted, "reason": s.reason,
                             "at": iso(s.at)} for s in history]
    if as_json:
        emit_json(value)
        return
    click.echo(f"{record.id} {record.state.value}"
               + (f", next: {next_step}" if next_step else "")
               + f" (expires {iso(record.expires_at)})")
    for step in value.get("history", ()):
        click.echo(f"  {step['at']} {step['step']}: "
                   + ("done" if step["accepted"] else f"refused [{step['reason']}]"))
