"""The ``--reason`` option of every command that revokes (``kpki cert revoke``, ``kpki
cloud revoke``): one vocabulary, :class:`pki.store.RevocationReason`, with one help text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pki.store import RevocationReason

F = TypeVar("F", bound=Callable[..., Any])

REASON_HELP = ("Why the certificate is revoked (RFC 5280): unspecified, keyCompromise, "
               "cACompromise, affiliationChanged, superseded, cessationOfOperation, "
               "privilegeWithdrawn or aACompromise (a hold is 'kpki cert suspend').")


class ReasonChoice(click.Choice[str]):
    """The reasons as choices (shell completion lists them), in any letter case, converted
    to the spelling of RFC 5280; a refusal lists them in that spelling."""

    def __init__(self) -> None:
        super().__init__([r.value for r in RevocationReason], case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return RevocationReason.parse(value).value
        except ValueError as exc:
            self.fail(f"{value!r} is not one: {exc} (a hold is 'kpki cert suspend')",
                      param, ctx)


def _reason(ctx: click.Context, param: click.Parameter, value: str) -> RevocationReason:
    return RevocationReason.parse(value)


def reason_option(f: F) -> F:
    """``--reason`` as a :class:`RevocationReason`, ``unspecified`` by default."""
    return click.option("--reason", type=ReasonChoice(), callback=_reason,
                        default=RevocationReason.UNSPECIFIED.value, show_default=True,
                        help=REASON_HELP)(f)
