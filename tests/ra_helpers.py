"""Shared harness of the registration authority's API and CLI tests (tests/test_ra_*_api.py,
tests/test_ra_*_cli.py): an answer's status and error code, and the bank-side phone
verification a flow's ``phone`` step takes, over ``/bank/v1`` or in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pki.clock import Clock
from pki.home import Home
from pki.testing import confirmed_phone_verification
from pki.usecases.banking import Banking

from .bank_api_helpers import last_code
from .cloud_helpers import Api

RRN = "900517-1234566"
PHONE = "01012345678"


def expect_ok(result: tuple[int, Any], status: int = 200) -> Any:
    """The body of an answer that must have ``status``."""
    got, body = result
    assert got == status, body
    return body


def expect_error(result: tuple[int, Any], status: int, code: str) -> Any:
    """The ``error`` of an answer that must be a refusal with ``status`` and ``code``."""
    got, body = result
    assert (got, body.get("error", {}).get("code")) == (status, code), result
    return body["error"]


def verified(api: Api, *, name: str = "홍길동", phone: str = PHONE, rrn: str = RRN) -> str:
    """A phone verification of the customer by the calling bank through
    ``/bank/v1/verifications``, confirmed with the code of the SMS the test channel shows;
    its id."""
    sent = expect_ok(api("POST", "/bank/v1/verifications", {
        "name": name, "phone": phone, "rrn7": rrn[:8], "carrier": "SKT"}), 201)
    expect_ok(api("POST", f"/bank/v1/verifications/{sent['verification_id']}/confirm",
                  {"code": last_code(api, phone)}))
    return str(sent["verification_id"])


def verified_at(home: Path, bank: str, *, rrn: str = RRN, clock: Clock | None = None) -> str:
    """A phone verification of the customer with ``rrn`` by the bank with code ``bank``,
    confirmed on the bank's side in-process (what a CLI flow's ``phone`` step takes)."""
    with Home.open(home, clock=clock) as opened:
        banking = Banking.of_home(opened)
        institution = banking.bank(bank)
        customer = banking.customers.by_rrn(institution, rrn)
        return confirmed_phone_verification(banking, institution, customer)
