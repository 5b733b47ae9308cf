"""Passwords and passphrases: from a file, an environment variable or a prompt; never argv."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pki.errors import PasswordPolicyError

F = TypeVar("F", bound=Callable[..., Any])

CA_PASSPHRASE_ENV = "KPKI_CA_PASSPHRASE"
CA_PIN_ENV = "KPKI_CA_PIN"
KEY_PASSWORD_ENV = "KPKI_KEY_PASSWORD"


MAX_SECRET_LINE = 65536
"""The longest first line a secret file may have: kpki reads no further (``/dev/zero``, a
log given by mistake, a huge file: never read whole)."""


def read_secret_file(path: Path) -> bytes:
    """The first line of ``path``, without its line ending; the rest is never read."""
    try:
        with path.open("rb") as f:
            data = f.readline(MAX_SECRET_LINE + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    line = data.splitlines()[0] if data else b""
    if len(line) > MAX_SECRET_LINE:
        raise click.ClickException(f"{path}: its first line is longer than "
                                   f"{MAX_SECRET_LINE} bytes, no secret is")
    if not line:
        raise click.ClickException(f"{path} is empty")
    return line


def read_secret(*, file: Path | None, env: str, what: str, option: str,
                confirm: bool, check: Callable[[bytes], object] | None = None) -> bytes:
    """A secret from ``file``, else ``$env``, else a hidden prompt on a terminal.

    ``check`` states the secret's rules (raising :class:`pki.errors.PKIError` or a click
    error): it runs on the secret however it came, and at a prompt on the first entry,
    before the confirmation is asked for, so a secret that breaks a rule is not typed
    twice."""
    if file is not None:
        secret = read_secret_file(file)
    elif value := os.environ.get(env):
        secret = value.encode()
    else:
        if not _at_terminal():
            raise click.UsageError(f"no {what}: give {option} FILE or set ${env}")
        return _prompted(what, confirm=confirm, check=check)
    if check is not None:
        check(secret)
    return secret


def _at_terminal() -> bool:
    return sys.stdin.isatty()


def _prompted(what: str, *, confirm: bool, check: Callable[[bytes], object] | None) -> bytes:
    label = what[:1].upper() + what[1:]  # "CA passphrase", not "Ca passphrase"
    entered: str = click.prompt(label, hide_input=True, err=True)
    if not entered:
        raise click.UsageError(f"the {what} is empty")
    if check is not None:
        check(entered.encode())
    if confirm:
        again: str = click.prompt("Repeat for confirmation", hide_input=True, err=True)
        if again != entered:
            raise click.UsageError(f"the two entries of the {what} differ")
    return entered.encode()


def passphrase_file_option(f: F) -> F:
    return click.option(
        "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
        help=f"File whose first line is the CA passphrase (else ${CA_PASSPHRASE_ENV}, "
             "else a prompt).")(f)


def pin_file_option(f: F) -> F:
    return click.option(
        "--pin-file", type=click.Path(dir_okay=False, path_type=Path),
        help=f"File whose first line is the user PIN of the token holding CA keys (else "
             f"${CA_PIN_ENV}, else a prompt).")(f)


def token_pin(path: Path | None) -> Callable[[], bytes]:
    """The user PIN of the tokens holding CA keys, read when a token is first used (a
    command that signs nothing never asks): from ``path``, else ``$KPKI_CA_PIN``, else a
    hidden prompt. Asked once: the token counts wrong PINs, so kpki never asks again."""

    given: list[bytes] = []

    def read() -> bytes:
        if not given:
            given.append(read_secret(file=path, env=CA_PIN_ENV, what="token PIN",
                                     option="--pin-file", confirm=False))
        return given[0]

    return read


def password_file_option(f: F) -> F:
    return click.option(
        "--password-file", type=click.Path(dir_okay=False, path_type=Path),
        help=f"File whose first line is the key password (else ${KEY_PASSWORD_ENV}, "
             "else a prompt).")(f)


def ca_passphrase(path: Path | None, *, encrypted: bool = True,
                  confirm: bool = False) -> bytes | None:
    if not encrypted:
        return None
    return read_secret(file=path, env=CA_PASSPHRASE_ENV, what="CA passphrase",
                       option="--passphrase-file", confirm=confirm)



def _text(secret: bytes, what: str) -> str:
    try:
        return secret.decode("utf-8")
    except UnicodeDecodeError:
        raise click.UsageError(f"the {what} is not UTF-8 text") from None


def key_password(path: Path | None, *, confirm: bool = True, env: str = KEY_PASSWORD_ENV,
                 option: str = "--password-file", what: str = "key password",
                 rules: bool | None = None) -> str:
    """A key password; a new one (``confirm``, or ``rules``) must follow the joint
    certificate's password rules (:func:`pki.keys.password.check_password`), checked
    before the confirmation is asked for."""
    checked = confirm if rules is None else rules

    def check(secret: bytes) -> None:
        from pki.keys.password import check_password  # pki.keys costs start-up elsewhere

        try:
            check_password(_text(secret, what))
        except PasswordPolicyError as exc:
            raise click.ClickException(f"{exc} (choose another {what} at the prompt, in "
                                       f"{option} or ${env})") from None

    return _text(read_secret(file=path, env=env, what=what, option=option, confirm=confirm,
                             check=check if checked else None), what)
