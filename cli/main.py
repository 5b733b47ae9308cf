"""Entry point: the ``kpki`` group and the one place errors become exit statuses.

Exit status: 0 success, 1 a kpki error (one line on stderr), 2 a usage error. No traceback
reaches the user unless ``KPKI_DEBUG=1`` is set. The mapping lives in
:meth:`KpkiGroup.main`, so ``kpki``, ``python -m cli``, :func:`main` and click's
``CliRunner`` all behave the same.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from pki.errors import PKIError

from .context import Context

DEFAULT_HOME = ".kpki"


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
    except click.Abort:
        return _fail("aborted", 1)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return _fail(exc.format_message() + hint, 2)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except PKIError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if os.environ.get("KPKI_DEBUG") == "1":
            traceback.print_exc()
        return _fail(f"unexpected {type(exc).__name__}: {exc} (set KPKI_DEBUG=1 for details)",
                     1)
    # Outside standalone mode click returns ctx.exit()'s status instead of raising it.
    return result if isinstance(result, int) else 0


class KpkiGroup(click.Group):
    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        sys.exit(run_mapped(lambda: super(KpkiGroup, self).main(
            args, prog_name or "kpki", complete_var, False, **extra)))


@click.group(cls=KpkiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="KPKI_HOME",
              default=DEFAULT_HOME, show_default=True,
              help="The kpki home (also $KPKI_HOME).")
@click.version_option(package_name="kpki", prog_name="kpki")
@click.pass_context
def cli(ctx: click.Context, home: Path) -> None:
    """kpki: Korean joint and financial certificates for test environments."""
    source = ctx.get_parameter_source("home")
    ctx.obj = Context(home=home, home_given=source is not None and source.name != "DEFAULT")


def _register() -> None:
    from . import (
        audit,
        ca,
        cert,
        cloud,
        crl,
        demo,
        issue,
        key,
        npki,
        publish,
        rrn,
        serve,
        sign,
        tsa,
    )

    cli.add_command(ca.init)
    cli.add_command(ca.ca)
    cli.add_command(issue.issue)
    cli.add_command(cert.cert)
    cli.add_command(demo.demo)
    cli.add_command(key.key)
    cli.add_command(npki.npki_group)
    cli.add_command(crl.crl)
    cli.add_command(publish.publish)
    cli.add_command(serve.serve)
    cli.add_command(sign.sign_command)
    cli.add_command(sign.verify_command)
    cli.add_command(cloud.cloud)
    cli.add_command(tsa.tsa)
    cli.add_command(rrn.rrn_command)
    cli.add_command(audit.audit)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (tests may call this directly)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return run_mapped(lambda: cli.main(args=args, prog_name="kpki", standalone_mode=False))


if __name__ == "__main__":
    sys.exit(main())
