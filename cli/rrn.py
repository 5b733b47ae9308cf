"""``kpki rrn``: synthetic resident registration numbers for test data."""

from __future__ import annotations

import datetime as dt

import click

from pki.entropy import SystemEntropy
from pki.errors import InvalidRRNError
from pki.rrn import MAX_RANDOM_RRNS, RRN, random_rrns

from .output import emit_list, list_options


def _rrn_json(rrn: RRN) -> dict[str, object]:
    return {
        "rrn": rrn.digits,
        "formatted": f"{rrn.digits[:6]}-{rrn.digits[6:]}",
        "birth_date": rrn.birth_date.isoformat(),
        "sex": "F" if rrn.female else "M",
        "foreign": rrn.foreigner,
        "check_digit": rrn.check_digit_applies,
    }


@click.command("rrn")
@click.option("--birth", required=True, type=click.DateTime(["%Y-%m-%d"]),
              metavar="YYYY-MM-DD", help="Date of birth (1800-2099; 1900 on with --foreign).")
@click.option("--sex", required=True, type=click.Choice(["M", "F"], case_sensitive=False),
              help="M or F: with the century, the seventh digit.")
@click.option("--foreign", is_flag=True,
              help="A foreign resident's number (seventh digit 5-8).")
@click.option("--count", type=click.IntRange(1, MAX_RANDOM_RRNS), default=1, show_default=True,
              help="How many distinct numbers.")
@list_options
def rrn_command(birth: dt.datetime, sex: str, foreign: bool, count: int, as_json: bool,
                as_jsonl: bool) -> None:
    """Print synthetic resident registration numbers (13 digits, one a line).

    They are well formed (real date, the seventh digit for century, sex and nationality,
    a correct check digit, a region code up to 95) and drawn at random, so they are
    nobody's in particular; use them as test data only. Births from October 2020 on get
    numbers without a check-digit rule, as real ones since then: kpki's still pass a
    validator that checks one.
    """
    try:
        rrns = random_rrns(birth.date(), count=count, female=sex.upper() == "F",
                           foreigner=foreign, entropy=SystemEntropy())
    except InvalidRRNError as exc:
        raise click.ClickException(f"--birth {birth:%Y-%m-%d}: {exc}") from None
    if not emit_list([_rrn_json(r) for r in rrns], as_json=as_json, as_jsonl=as_jsonl):
        for r in rrns:
            click.echo(r.digits)
