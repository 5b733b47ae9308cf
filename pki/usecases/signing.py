"""Sign with the key of an NPKI folder, optionally time-stamped (``kpki sign``).

The signature is made over the document's exact bytes; a time stamp comes from a TSA over
HTTP (:class:`pki.timestamp.HTTPTimestamper`); R can be sealed to a relying party for its
VID check. Nothing is written: the face writes the results where its user asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509

from ..clock import Clock
from ..errors import KeyFileError
from ..keys import npki
from ..signing import KeySigner, SignedDocument, seal_r, sign
from ..timestamp import HTTPTimestamper, TokenInfo, read_token

__all__ = ["FolderSignature", "SignOrder", "sign_with_folder"]


@dataclass(frozen=True)
class SignOrder:
    """What to sign, with which NPKI folder, in which shape."""

    document: bytes
    folder: Path
    """The signer's NPKI folder (signCert.der + signPri.key)."""
    chain: tuple[x509.Certificate, ...] = ()
    """CA certificates to include in the signature."""
    detached: bool = False
    signed_attributes: bool = True
    content_info: bool = True
    pss: bool = False
    tsa_url: str | None = None
    """Add a signature time stamp from the TSA at this URL."""
    r_recipient: x509.Certificate | None = None
    """Also seal R, the VID's random number, to this relying party."""
    r_cipher: Literal["aes256", "seed"] = "aes256"
    """``aes256`` or ``seed`` (RFC 4010) for the R envelope."""


@dataclass(frozen=True)
class FolderSignature:
    signed: SignedDocument
    timestamp: TokenInfo | None
    """What the time-stamp token states, when there is one."""
    r_envelope: bytes | None
    """R sealed to :attr:`SignOrder.r_recipient` (DER EnvelopedData), when asked for."""


def sign_with_folder(order: SignOrder, *, password: str, clock: Clock) -> FolderSignature:
    """Sign ``order.document``. Raises :class:`pki.errors.WrongPasswordError` or
    :class:`KeyFileError` for the folder (also when R is asked for and the key file holds
    none), :class:`pki.errors.TimestampError` when the TSA refuses or cannot be reached."""
    credential = npki.load(order.folder, password)
    if order.r_recipient is not None and credential.r is None:
        raise KeyFileError("this key file holds no R to send")
    signer = KeySigner(credential.certificate, credential.private_key, order.chain)
    signed = sign(order.document, signer, detached=order.detached,
                  signed_attributes=order.signed_attributes, content_info=order.content_info,
                  pss=order.pss, include_chain=bool(order.chain), clock=clock,
                  timestamper=None if order.tsa_url is None else HTTPTimestamper(order.tsa_url))
    stamped = None if signed.timestamp_token is None else read_token(signed.timestamp_token)
    envelope = None
    if order.r_recipient is not None and credential.r is not None:
        envelope = seal_r(credential.r, order.r_recipient, cipher=order.r_cipher)
    return FolderSignature(signed, stamped, envelope)
