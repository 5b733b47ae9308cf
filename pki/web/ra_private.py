"""The private-certificate flow over HTTP (:mod:`pki.ra.private`), under
``/ra/v1/private``, on the JSON error contract of :mod:`pki.web.jsonapi`:

* ``POST /ra/v1/private/sessions`` ``{"device"}`` (201): a session opened from the device;
* ``GET .../{session}``: the session, the step due and every step asked for with its
  reason code when refused (the data holds the device, the account number and the phone
  verification's id, never a secret), and ``certificate`` (PEM) once the issue step
  issued it: a device whose answer was lost attaches it to the key it sealed before
  sending (:mod:`pki.private`);
* ``POST .../{session}/account`` ``{"number", "password"}``, ``.../phone``
  ``{"verification_id"}`` (a verification made through ``/bank/v1/verifications``);
* ``POST .../{session}/issue`` ``{"csr", "r"}`` (201): the device's CSR, PEM or base64
  DER, and its R (hex). The key and R were made on the device and sealed there under the
  simple PIN chosen there *before* this request (:class:`pki.private.DeviceEnrolment`):
  the key and PIN never travel; R goes into the certificate's VID and the store never
  keeps it. Answered with the certificate and its chain (PEM, the CA's first, then the
  root), its serial and the serial it replaced (one device per person);
* ``POST /ra/v1/private/renewals`` ``{"customer_id", "signature", "r", "new_r"}`` (201): a
  renewal after a year of use, the new key's CSR (DER) signed with the registered
  certificate (attached CMS, base64), that certificate's R and the new key's R (hex, both
  from the device's keystore); answered as an issuance, with no session;
* ``GET /ra/v1/private/customers/{customer}/certificate``: the customer's live registered
  private certificate (``certificate`` PEM and ``serial``, or nulls): a device whose
  renewal's answer was lost finds the renewed certificate there.

Refusals: the engine's are 409 with ``expected`` (``session_expired`` 410); the flow's own
(``phone_other_person``, ``phone_used``, ``renewal_window``,
``signer_not_certificate`` ...) 403; a wrong account password 401 with
``attempts_left``; a lock 423; a CSR that does not parse or verify 400 ``bad_request``
naming ``csr``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.routing import Route

from ..errors import BankRequestError
from ..ra.private import PRIVATE_ISSUE, PrivateIssued
from ..store import Institution, RaSessionRecord, RaStepRecord
from ..usecases.ra import RegistrationDesk
from .jsonapi import Body, Empty, JsonApi, utc
from .ra import (
    AccountBody,
    Blob,
    PhoneBody,
    Short,
    b64_field,
    hex_field,
    path_id,
    session_answer,
)

__all__ = ["private_routes"]

PREFIX = "/ra/v1/private"


class StartBody(Body):
    device: Short


class IssueBody(Body):
    csr: Blob
    """PEM, or base64 DER."""
    r: Short
    """The device's R (hex), sealed there with the key before it was sent."""


class RenewBody(Body):
    customer_id: Short
    signature: Blob
    r: Short
    """The registered certificate's R (hex), from the device's keystore."""
    new_r: Short
    """The new key's R (hex), sealed on the device with the new key before it was sent."""


def session_json(record: RaSessionRecord, history: tuple[RaStepRecord, ...] | None = None
                 ) -> dict[str, Any]:
    """A private-certificate session as the API shows it."""
    return session_answer(record, PRIVATE_ISSUE, history)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode()


def issued_json(done: PrivateIssued) -> dict[str, Any]:
    """An issuance or renewal as the API answers it (R is not echoed: the device made it
    and keeps it)."""
    issued = done.issued
    return {"session": None if done.session is None else session_json(done.session),
            "ca": issued.ca, "serial": format(issued.serial, "X"),
            "profile": issued.profile.name,
            "certificate": _pem(issued.certificate),
            "chain": [_pem(c) for c in issued.chain],
            "not_after": utc(issued.certificate.not_valid_after_utc),
            "replaced": None if done.replaced is None else format(done.replaced, "X")}


def csr_bytes(text: str) -> bytes:
    """A CSR as a body carries it: PEM text as is, else base64 DER (:class:`BankRequestError`
    ``csr`` when it is neither; whether it parses is the flow's to say)."""
    if "-----BEGIN" in text:
        return text.encode("ascii", errors="replace")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BankRequestError("a CSR is PEM or base64 DER", field="csr") from None


def private_routes(api: JsonApi[RegistrationDesk]) -> list[Route]:
    """The private-certificate flow's routes (see the module doc)."""
    endpoint = api.endpoint

    def start(d: RegistrationDesk, i: Institution, body: StartBody, r: Request) -> Any:
        return session_json(d.private.start(i, device=body.device))

    def show(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        record = d.private.get(i, path_id(r))
        issued = d.private.issued_certificate(i, record.id)
        return {**session_json(record, d.private.history(i, record.id)),
                "certificate": None if issued is None else _pem(issued)}

    def registered(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        customer_id = path_id(r, "customer")
        found = d.private.registered_certificate(i, customer_id)
        return {"customer_id": customer_id,
                "serial": None if found is None else format(found.serial_number, "X"),
                "certificate": None if found is None else _pem(found)}

    def account(d: RegistrationDesk, i: Institution, body: AccountBody, r: Request) -> Any:
        return session_json(d.private.account(i, path_id(r), number=body.number,
                                              password=body.password))

    def phone(d: RegistrationDesk, i: Institution, body: PhoneBody, r: Request) -> Any:
        return session_json(d.private.phone(i, path_id(r), verification_id=body.verification_id))

    def issue(d: RegistrationDesk, i: Institution, body: IssueBody, r: Request) -> Any:
        return issued_json(d.private.issue(i, path_id(r), csr=csr_bytes(body.csr),
                                           r=hex_field(body.r, "r")))

    def renew(d: RegistrationDesk, i: Institution, body: RenewBody, r: Request) -> Any:
        return issued_json(d.private.renew(i, body.customer_id,
                                           signature=b64_field(body.signature, "signature"),
                                           r=hex_field(body.r, "r"),
                                           new_r=hex_field(body.new_r, "new_r")))

    sessions = f"{PREFIX}/sessions"
    one = f"{sessions}/{{session}}"
    return [
        Route(sessions, endpoint(StartBody, start, status=201), methods=["POST"]),
        Route(one, endpoint(Empty, show), methods=["GET"]),
        Route(f"{one}/account", endpoint(AccountBody, account), methods=["POST"]),
        Route(f"{one}/phone", endpoint(PhoneBody, phone), methods=["POST"]),
        Route(f"{one}/issue", endpoint(IssueBody, issue, status=201), methods=["POST"]),
        Route(f"{PREFIX}/renewals", endpoint(RenewBody, renew, status=201),
              methods=["POST"]),
        Route(f"{PREFIX}/customers/{{customer}}/certificate", endpoint(Empty, registered),
              methods=["GET"]),
    ]
