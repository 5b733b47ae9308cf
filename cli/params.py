"""The conventions every command shares for what it is given and what it writes.

Exit status 2 (a usage error naming the option) for anything wrong on the command line:
an unknown or missing option, a value that is malformed or that kpki's rules refuse (an
RRN with a wrong check digit, a holder name a folder cannot carry, R that is not hex), an
output file that exists without ``--force``. Exit status 1 for a failure of the work or
for refused content read from elsewhere (a file, a secret, the store, the network).

Output files: ``--out -`` writes to standard output where the output is one file
(:func:`out_file_option`, :func:`write_out`); an option naming a folder refuses ``-``
(:func:`out_folder`); an existing file is overwritten only with ``--force``
(:func:`check_out_file`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from pki.errors import (
    CSRError,
    InvalidNameError,
    InvalidRRNError,
    KeyFileError,
    KeyMismatchError,
    RevocationDataError,
    WrongPasswordError,
)
from pki.fsutil import atomic_write, check_writable_dir
from pki.rrn import RRN

F = TypeVar("F", bound=Callable[..., Any])

STDOUT = "-"

CONTENT_ERRORS = (KeyFileError, KeyMismatchError, RevocationDataError, CSRError)
"""The library's refusals of a file's content."""


def is_stdout(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDOUT


def _rrn(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return RRN.parse(value).digits
    except InvalidRRNError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def rrn_option(help: str, *, required: bool = False) -> Callable[[F], F]:
    """``--rrn``: a resident number checked by :meth:`pki.rrn.RRN.parse` while the command
    line is read (13 digits, a dash after the sixth allowed); the digits."""
    return click.option("--rrn", required=required, callback=_rrn, metavar="RRN", help=help)


@contextlib.contextmanager
def given(options: Mapping[str, object]) -> Iterator[None]:
    """Refusals of values the command line gave, as usage errors naming their option:
    ``options`` maps each option (``--name``) to the value it gave. A refusal of another
    value (one from a file, the store) passes through."""
    try:
        yield
    except InvalidRRNError as exc:
        if "--rrn" not in options:
            raise
        raise click.BadParameter(str(exc), param_hint="--rrn") from None
    except InvalidNameError as exc:
        named = [o for o, v in options.items() if v == exc.name]
        if not named:
            raise
        raise click.BadParameter(str(exc), param_hint=named[0]) from None


@contextlib.contextmanager
def read_from(option: str, path: Path | None = None) -> Iterator[None]:
    """What ``option`` gave (the file at ``path``) could not be used: one line naming
    them, in kpki's words (the library's refusal of the content)."""
    try:
        yield
    except CONTENT_ERRORS as exc:
        where = option if path is None else f"{option} {path}"
        raise click.ClickException(f"{where}: {exc}") from None


@contextlib.contextmanager
def opened_with(option: str, env: str) -> Iterator[None]:
    """A wrong password or passphrase, naming where the right one goes."""
    try:
        yield
    except WrongPasswordError as exc:
        raise click.ClickException(f"{exc}: give the right one at the prompt, in {option} "
                                   f"or ${env}") from None


def out_file_option(help: str, *, default: str = "") -> Callable[[F], F]:
    """``--out FILE`` for a command whose output is one file; ``-`` is standard output."""
    more = f" [{default}]" if default else ""
    return click.option("--out", type=click.Path(dir_okay=False, allow_dash=True,
                                                 path_type=Path),
                        help=f"{help} ('-': standard output){more}.")


def force_file_option(f: F) -> F:
    return click.option("--force", is_flag=True,
                        help="Overwrite the output file if it exists.")(f)


def check_out_file(path: Path | None, *, force: bool, option: str = "--out") -> None:
    """Refuse, before any work, to write ``path`` where it cannot be written, or over an
    existing file without ``--force`` (a usage error naming both options)."""
    if path is None or is_stdout(path):
        return
    check_writable_dir(path.absolute().parent)
    if path.is_dir():
        raise click.BadParameter(f"{path} is a folder: name a file", param_hint=option)
    if (path.exists() or path.is_symlink()) and not force:  # a dangling link too
        raise click.BadParameter(f"{path} exists already: add --force to overwrite it",
                                 param_hint=option)


def check_stdout_free(out: Path | None, *, as_json: bool) -> None:
    """``--out -`` and ``--json`` would both write to standard output."""
    if as_json and is_stdout(out):
        raise click.UsageError("--out - and --json both write to standard output: choose "
                               "one")


def write_out(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` (temp file and rename), or to standard output for ``-``."""
    if is_stdout(path):
        sys.stdout.flush()
        stream: BinaryIO = sys.stdout.buffer
        stream.write(data)
        stream.flush()
    else:
        atomic_write(path, data, mode=mode)


def force_option(f: Any) -> Any:
    return click.option("--force", is_flag=True,
                        help="Replace the NPKI folder if one of that name exists already "
                             "(its certificate and key are deleted).")(f)


def out_folder(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Callback of an option that names a folder: ``-`` (standard output) is refused."""
    values = value if isinstance(value, tuple) else (value,)
    if any(is_stdout(v) for v in values):
        raise click.BadParameter("names a folder, and '-' (standard output) is for "
                                 "options that write one file: give a folder",
                                 ctx=ctx, param=param)
    return value
