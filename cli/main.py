"""Entry point: the ``kpki`` group and the one place errors become exit statuses.

Exit status: 0 success, 1 a kpki error (one line on stderr), 2 a usage error, 130
interrupted (Ctrl-C: one line, "kpki: interrupted"). The long-running commands (``kpki
serve``, ``kpki publish --watch``) stop cleanly on SIGINT (then 130) and on SIGTERM (then
0, the status a service manager expects of a requested stop). No traceback reaches the user unless
``KPKI_DEBUG=1`` is set. The mapping lives in :func:`run_mapped`, so ``kpki``,
``python -m pki.cli``, :func:`main` and click's ``CliRunner`` all behave the same.

A reader that stops early (``kpki verify SIG | head -1``) does not change the status: the
rest of the output is dropped quietly and the command ends with its own status
(:class:`_QuietPipe`).

The global options set what every command runs on: ``--home``, ``--at`` / ``$KPKI_NOW``
(the clock) and ``--utc`` (how times are shown).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from pki.clock import OffsetClock, SystemClock, parse_time
from pki.errors import ClockBehindError, PKIError

from .context import STDOUT_GONE, Context, Stopped

DEFAULT_HOME = ".kpki"
NOW_ENV = "KPKI_NOW"
INTERRUPTED = 130


class _Interrupted(Exception):
    """Ctrl-C, carried past click's own handling (which would print a blank line and
    "Aborted!") to :func:`run_mapped`."""


def _fail(message: str, status: int) -> int:
    first_line = " ".join(message.split()) or "failed"
    click.echo(f"kpki: error: {first_line}", err=True)
    return status


def run_mapped(call: Callable[[], Any]) -> int:
    """Run ``call`` (a non-standalone click invocation) and map every failure to a status."""
    try:
        result = call()
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Stopped:
        return 0
    except _Interrupted:
        return _interrupted()
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # a prompt's Ctrl-C
            return _interrupted()
        return _fail("aborted", 1)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return _fail(exc.format_message() + hint, 2)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except ClockBehindError as exc:
        return _fail(f"{exc} (or run at or after {exc.last} with --at or ${NOW_ENV}; a "
                     "home made by 'kpki init --time-travel' lets time go back)", 1)
    except PKIError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        if os.environ.get("KPKI_DEBUG") == "1":
            traceback.print_exc()
        return _fail(f"unexpected {type(exc).__name__}: {exc} (set KPKI_DEBUG=1 for details)",
                     1)
    # Outside standalone mode click returns ctx.exit()'s status instead of raising it.
    return result if isinstance(result, int) else 0


def _interrupted() -> int:
    click.echo("kpki: interrupted", err=True)
    return INTERRUPTED


class _QuietPipe:
    """The process's stdout (text, or its binary ``buffer``), quiet once its reader has
    gone: after the first :class:`BrokenPipeError` the descriptor points at /dev/null, so
    the command runs to its end (and its exit status) without a traceback or an
    "Exception ignored" at exit."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        inner = getattr(stream, "buffer", None)
        self.buffer = None if inner is None else _QuietPipe(inner)

    def _drop(self) -> None:
        STDOUT_GONE.set()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._stream.fileno())
        finally:
            os.close(null)

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except BrokenPipeError:
            self._drop()
            return len(data)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class KpkiGroup(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, name = _COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), name),
                             cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own would import every command's module for its one line of help: half
        # a second of `kpki --help`. The lines are _SUMMARIES' (tests/test_cli_help.py
        # holds them to the commands' docstrings).
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, click.Command(name, help=_SUMMARIES[name])
                                 .get_short_help_str(limit)) for name in names])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None
        except click.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise _Interrupted from None
            raise

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        sys.exit(run_mapped(lambda: super(KpkiGroup, self).main(
            args, prog_name or "kpki", complete_var, False, **extra)))


@click.group(name="kpki", cls=KpkiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="KPKI_HOME",
              default=DEFAULT_HOME, show_default=True,
              help="The kpki home (also $KPKI_HOME).")
@click.option("--at", "at_text", metavar="TIME", envvar=NOW_ENV,
              help="Run on a clock that starts at TIME and runs on from there (every "
                   "command: issuance, lifecycle, publishing, verification, the cloud, "
                   "serve). TIME is an ISO 8601 date or date-time, in KST unless it has an "
                   "offset: 2027-10-23, 2027-10-23T09:30, 2027-10-23T00:30Z; or days or "
                   f"hours from now: +350d, -2h (also ${NOW_ENV}; the option wins).")
@click.option("--utc", is_flag=True,
              help="Show times in UTC instead of KST (JSON is ISO 8601 with the offset "
                   "either way).")
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File whose first line is the user PIN of the token holding CA keys "
                   "(kpki init --ca-keys; else $KPKI_CA_PIN, else a prompt).")
@click.version_option(package_name="kpki", prog_name="kpki")
@click.pass_context
def cli(ctx: click.Context, home: Path, at_text: str | None, utc: bool,
        pin_file: Path | None) -> None:
    """kpki: Korean joint and financial certificates for test environments.

    Times are read and shown in KST (+09:00) unless they carry an offset; --utc shows UTC.
    JSON output gives times in ISO 8601 in UTC (2027-10-23T00:00:00Z).

    Exit status: 0 success; 1 failure, or refused input read from elsewhere (a file, a
    secret, the store, the network); 2 usage error: anything wrong on the command line,
    malformed or refused by kpki's rules (an RRN's check digit, a name, an output file
    that exists without --force), named by its option; 130 interrupted (SIGTERM stops
    'kpki serve' and 'kpki publish --watch' cleanly with 0).
    """
    source = ctx.get_parameter_source("home")
    obj = Context(home=home, home_given=source is not None and source.name != "DEFAULT",
                  utc=utc, pin_file=pin_file)
    if at_text is not None:
        try:
            obj.clock = OffsetClock(parse_time(at_text, now=SystemClock().now()))
        except ValueError as exc:
            origin = ctx.get_parameter_source("at_text")
            hint = (f"${NOW_ENV}" if origin is click.core.ParameterSource.ENVIRONMENT
                    else "--at")
            raise click.BadParameter(str(exc), ctx=ctx, param_hint=hint) from None
    ctx.obj = obj


_COMMANDS = {
    "init": ("ca", "init"), "ca": ("ca", "ca"), "issue": ("issue", "issue"),
    "cert": ("cert", "cert"), "demo": ("demo", "demo"), "key": ("key", "key"),
    "npki": ("npki", "npki_group"), "crl": ("crl", "crl"), "publish": ("publish", "publish"),
    "serve": ("serve", "serve"), "sign": ("sign", "sign_command"),
    "verify": ("sign", "verify_command"), "cloud": ("cloud", "cloud"), "bank": ("bank", "bank"),
    "ra": ("ra", "ra"), "simpleauth": ("simpleauth", "simpleauth"),
    "tsa": ("tsa", "tsa"), "rrn": ("rrn", "rrn_command"), "audit": ("audit", "audit"),
    "agent": ("agent", "agent"),
}
"""Each command: its module in this package and its name there. A command's module is
imported when the command is looked up, so ``kpki serve`` does not import the bank's or the
cloud's CLI (nor what they import) before it starts."""

_SUMMARIES = {
    "agent": "Run the local signing agent on 127.0.0.1 until stopped (Ctrl-C, SIGTERM).",
    "audit": "Show the audit log: every change to the home, oldest first.",
    "bank": "The bank around the certificates: customers, accounts, security cards, OTP, "
            "phone verification and limits (docs/bank.md).",
    "ca": "Manage the CAs of the home.",
    "cert": "Look at issued certificates.",
    "cloud": "The financial-certificate cloud (PIN-guarded keystore).",
    "crl": "Certificate revocation lists.",
    "demo": "A tour: init, issue, sign, verify, revoke, publish the CRL, verify again.",
    "init": "Create a home with a KISA-style root and one licensed CA.",
    "issue": "Issue subscriber certificates.",
    "key": "Key files: change their password, export and import PKCS #12.",
    "npki": "Find and check NPKI certificate folders.",
    "publish": "Publish what relying parties fetch: every CA's full and delta CRLs, its OCSP "
               "signer and the time-stamping authority, into the store (which 'kpki serve' "
               "answers from) and the publish folder.",
    "ra": "Issue as a bank's registration authority does: step by step.",
    "rrn": "Print synthetic resident registration numbers (13 digits, one a line).",
    "serve": "Serve CRLs at the URLs the certificates carry, OCSP at their AIA URL, time "
             "stamps at <base URL>/tsa, a page about each CA at its CPS URL, the cloud API "
             "(/cloud/v1) and the financial-certificate SDK for the browser "
             "(/sdk/v1/fincert.js), the bank API (/bank/v1) with the registration "
             "authority's flows (/ra/v1), and simple authentication (/simpleauth/v1).",
    "sign": "Sign FILE (its exact bytes, any encoding) with the certificate of an NPKI "
            "folder.",
    "simpleauth": "Simple authentication (간편인증): providers, apps, requests, approvals, "
                  "results.",
    "tsa": "The time-stamping authority (RFC 3161) that 'kpki serve' answers at <base "
           "URL>/tsa.",
    "verify": "Verify SIGNATURE: signature, time stamp, chain, validity, revocation, policy, "
              "VID.",
}
"""Each command's first paragraph of help, for ``kpki --help`` without importing the
commands (tests/test_cli_help.py checks each against the command's own)."""


def load_commands() -> click.Group:
    """The ``kpki`` group with every command imported (what a walk over ``cli.commands``
    needs); returns it."""
    for name in _COMMANDS:
        cli.get_command(click.Context(cli), name)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (tests may call this directly)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    real_stdout = sys.stdout is sys.__stdout__ and sys.stdout is not None
    if real_stdout:
        sys.stdout = _QuietPipe(sys.stdout)
    try:
        status = run_mapped(lambda: cli.main(args=args, prog_name="kpki",
                                             standalone_mode=False))
        if real_stdout:
            sys.stdout.flush()
        return status
    finally:
        if real_stdout:
            sys.stdout = sys.__stdout__


if __name__ == "__main__":
    sys.exit(main())
