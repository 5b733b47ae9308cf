"""Full and delta CRLs (RFC 5280), numbered, recorded and published.

A full CRL lists every revoked or suspended (certificateHold) certificate of a CA that has
not expired, with reason codes and invalidity dates; it carries the CA's key identifier, a
CRL number, an issuingDistributionPoint equal to the certificates' CRL distribution point,
and freshestCRL pointing at the delta CRL. A delta CRL lists what changed since the last
full CRL (its base): new revocations and suspensions, and resumed certificates as
``removeFromCRL``. CRL numbers are shared by full and delta CRLs and strictly increase.

Building happens outside any write transaction (a million-entry CRL takes seconds): the
number is reserved first, the CRL recorded after. A number whose CRL failed is skipped.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import PKIError
from ..fsutil import atomic_write, ensure_writable_dir
from ..lifecycle import lapse_suspensions
from ..store import CARecord, CertStatus, CRLEntry, CRLInfo, Store
from .crlder import encode_crl

__all__ = [
    "DELTA_VALIDITY",
    "FULL_VALIDITY",
    "IssuedCRL",
    "delta_url",
    "issue_crl",
    "publish_path",
    "write_crl",
]

FULL_VALIDITY = dt.timedelta(days=1)
DELTA_VALIDITY = dt.timedelta(hours=1)


@dataclass(frozen=True)
class IssuedCRL:
    info: CRLInfo
    der: bytes

    @property
    def pem(self) -> bytes:
        # One buffer, not a million line objects: a full CRL can be tens of megabytes.
        body = base64.b64encode(self.der)
        out = bytearray(b"-----BEGIN X509 CRL-----\n")
        for start in range(0, len(body), 64):
            out += body[start:start + 64]
            out += b"\n"
        out += b"-----END X509 CRL-----\n"
        return bytes(out)


def delta_url(crl_url: str) -> str:
    """Where the delta CRL of a CA whose full CRL is at ``crl_url`` is published."""
    if crl_url.endswith(".crl"):
        return crl_url[: -len(".crl")] + "-delta.crl"
    return crl_url + "-delta"


def _removals(changes: Iterator[tuple[CertStatus, CRLEntry]]) -> Iterator[CRLEntry]:
    for status, entry in changes:
        if status is CertStatus.VALID:  # resumed since the base
            yield CRLEntry(entry.serial_hex, entry.revoked_at, "removeFromCRL", None)
        else:
            yield entry


def issue_crl(ca: CARecord, key: rsa.RSAPrivateKey, store: Store, *, at: dt.datetime,
              delta: bool = False, validity: dt.timedelta | None = None) -> IssuedCRL:
    """Build, sign and record the next CRL of ``ca``.

    A full CRL first turns suspensions older than six months into revocations. A delta
    CRL needs a full CRL to be based on (:class:`PKIError` otherwise).
    """
    cert = ca.certificate
    if cert.public_key() != key.public_key():
        raise PKIError(f"the key does not belong to CA {ca.label!r}")
    at = at.replace(microsecond=0)
    base = None
    if delta:
        base = store.last_crl(ca.label)
        if base is None:
            raise PKIError(f"CA {ca.label!r} has no full CRL yet for a delta CRL to refer to")
    else:
        lapse_suspensions(store, ca.label, at=at)
    change_seq = store.change_seq(ca.label)  # read before the entries: see module doc
    with store.transaction() as tx:
        number, at = tx.reserve_crl(ca.label, at)
    next_update = at + (validity or (DELTA_VALIDITY if delta else FULL_VALIDITY))

    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(ca.crl_url)], relative_name=None,
        only_contains_user_certs=False, only_contains_ca_certs=False, only_some_reasons=None,
        indirect_crl=False, only_contains_attribute_certs=False)
    extensions = [
        x509.Extension(x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False,
                       x509.AuthorityKeyIdentifier(ski.digest, None, None)),
        x509.Extension(x509.oid.ExtensionOID.CRL_NUMBER, False, x509.CRLNumber(number)),
    ]
    if base is not None:
        extensions.append(x509.Extension(x509.oid.ExtensionOID.DELTA_CRL_INDICATOR, True,
                                         x509.DeltaCRLIndicator(base.number)))
        entries: Iterator[CRLEntry] = _removals(
            store.changed_since(ca.label, base.change_seq, at=at))
    else:
        entries = store.crl_entries(ca.label, at=at)
    extensions.append(x509.Extension(x509.oid.ExtensionOID.ISSUING_DISTRIBUTION_POINT, True,
                                     idp))
    if base is None:
        extensions.append(x509.Extension(
            x509.oid.ExtensionOID.FRESHEST_CRL, False, x509.FreshestCRL([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(delta_url(ca.crl_url))], None, None, None)])))

    der, count = encode_crl(issuer=cert.subject, this_update=at, next_update=next_update,
                            entries=entries, extensions=extensions, key=key)
    info = CRLInfo(ca=ca.label, number=number, delta_base=None if base is None else base.number,
                   this_update=at, next_update=next_update, change_seq=change_seq,
                   entries=count, sha256=hashlib.sha256(der).hexdigest())
    with store.transaction() as tx:
        tx.record_crl(info)
        tx.audit("crl.issued", at=at, ca=ca.label,
                 detail={"number": number, "delta_base": info.delta_base, "entries": count})
    return IssuedCRL(info, der)


def publish_path(folder: Path, url: str) -> Path:
    """Where in the publish folder the file served at ``url`` lives (its URL path)."""
    path = urlsplit(url).path.lstrip("/")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise PKIError(f"cannot publish to the URL {url!r}")
    return folder.joinpath(*parts)


def write_crl(crl: IssuedCRL, folder: Path, url: str) -> tuple[Path, Path]:
    """Write the CRL as DER (at the URL's path) and PEM (``.pem`` beside it), atomically."""
    der_path = publish_path(folder, url)
    ensure_writable_dir(der_path.parent)
    atomic_write(der_path, crl.der)
    pem_path = der_path.with_name(der_path.name + ".pem")
    atomic_write(pem_path, crl.pem)
    return der_path, pem_path
