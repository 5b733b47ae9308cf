"""Verify a signature, inside a kpki home or from files (``kpki verify``).

Inside a home nothing else is needed: its root is trusted, its CAs are known and
revocation is checked against its records (:meth:`pki.signing.verify.Verifier.for_home`).
Elsewhere the caller gives the trust anchors and a revocation source, or turns revocation
off. The face reads the files; this assembles the verifier and runs it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import Clock
from ..home import Home
from ..rrn import RRN
from ..signing import VerificationResult
from ..signing.verify import CRLIndex, Verifier

__all__ = ["Verified", "VerifyOrder", "verify_signature"]


@dataclass(frozen=True)
class VerifyOrder:
    """A signature to verify and what to verify it against."""

    signature: bytes
    content: bytes | None = None
    """The signed document, for a detached signature."""
    trust: tuple[x509.Certificate, ...] = ()
    """Trusted roots; inside a home, empty: the home's root."""
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[CRLIndex, ...] = ()
    fetch_crls: bool = False
    """Fetch the CRL at each certificate's distribution point."""
    use_ocsp: bool = False
    """Ask the OCSP responder at each certificate's AIA URL."""
    revocation: bool = True
    """``False``: do not check revocation (said in the result)."""
    allow_stale: bool = False
    policy: str | None = None
    """Require this certificate policy OID."""
    at: dt.datetime | None = None
    """Validation time; ``None``: the clock's now."""
    rrn: RRN | None = None
    """Check the VID against this resident number (with ``r`` or ``r_envelope``)."""
    r: bytes | None = None
    r_envelope: bytes | None = None
    recipient_key: rsa.RSAPrivateKey | None = None
    """The relying party's key, to open ``r_envelope``."""

    def check(self, *, in_home: bool) -> None:
        """What is refused before any work: nothing to trust outside a home, a VID check
        without a resident number or with two sources of R. Raises :class:`ValueError`."""
        if not in_home and not self.trust:
            raise ValueError("nothing to trust outside a kpki home")
        if (self.r is not None or self.r_envelope is not None) and self.rrn is None:
            raise ValueError("the VID check needs the resident number")
        if self.r is not None and self.r_envelope is not None:
            raise ValueError("R comes from one source: R itself or its envelope")


@dataclass(frozen=True)
class Verified:
    result: VerificationResult
    revocation_data: bool
    """Whether revocation data was there to check against (``False`` with revocation
    checked: the result says revocation could not be checked)."""


def verify_signature(order: VerifyOrder, *, home: Home | None, clock: Clock) -> Verified:
    """Verify ``order.signature`` inside ``home`` (``None``: outside any home). Raises
    :class:`ValueError` as :meth:`VerifyOrder.check` does, and
    :class:`pki.signing.verify.CannotEvaluateError` when there is nothing to evaluate."""
    order.check(in_home=home is not None)
    options: dict[str, Any] = {"intermediates": list(order.intermediates), "crls": list(order.crls),
               "fetch_crls": order.fetch_crls, "use_ocsp": order.use_ocsp,
               "revocation": order.revocation, "allow_stale": order.allow_stale,
               "policy": order.policy, "clock": clock}
    if order.trust:
        options["trust"] = list(order.trust)
    verifier = Verifier(**options) if home is None else Verifier.for_home(home, **options)
    result = verifier.verify(order.signature, content=order.content, at=order.at,
                             rrn=order.rrn, r=order.r, r_envelope=order.r_envelope,
                             recipient_key=order.recipient_key)
    return Verified(result, revocation_data=bool(verifier.sources))
