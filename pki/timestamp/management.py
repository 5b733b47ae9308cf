"""Keeping a home's time-stamping authority: its certificate in the store, its key in the CA
key store.

The TSA's certificate is one of the root's certificates in the store (profile ``tsa``), so
``kpki cert revoke --ca root`` revokes it and the root's CRL lists it; its key is held under
``root/tsa`` (:mod:`pki.keys.castore`). :func:`current_tsa` only reads: a server calls it.
:func:`ensure_tsa` issues a new key and certificate, with the root's key, when there is no
usable one: none yet, its key does not match, the store does not hold it as valid, or it ends
within ``TSA_PROFILE.renew_before_days``. It makes them under the store's write lock, so that
processes asking at once make one TSA, not one each. The key is made first and the
certificate recorded after it: a crash between the two leaves a key no certificate names,
which the next :func:`ensure_tsa` replaces (fault points ``tsa.key-written``,
``tsa.recorded``).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..clock import Clock
from ..entropy import Entropy, random_serial
from ..errors import NotFoundError, SerialInUseError, StoreError
from ..faults import fault_point
from ..keys.castore import CAKey, CAKeyStore, KeyLabel
from ..profiles import TSA_PROFILE, KeyType
from ..store import CARecord, CertificateRecord, CertStatus, KeyOrigin, Store, StoreTransaction
from .authority import TimeStampAuthority, issue_tsa_certificate

__all__ = ["TSA_ISSUER", "current_tsa", "ensure_tsa", "tsa_certificate", "tsa_usable"]

TSA_ISSUER = "root"
"""The CA that issues a home's TSA certificate."""
_SERIAL_DRAWS = 8


def tsa_certificate(store: Store) -> x509.Certificate | None:
    """The TSA's latest certificate (whatever its status); None before there is one."""
    records = store.list_certificates(ca=TSA_ISSUER, profile=TSA_PROFILE.name)
    return records[-1].certificate if records else None


def tsa_usable(store: Store, cert: x509.Certificate, at: dt.datetime) -> bool:
    """Whether the TSA may stamp with ``cert`` at ``at``: within its validity, short of its
    renewal window, and valid in the store (not revoked or suspended)."""
    renew = dt.timedelta(days=TSA_PROFILE.renew_before_days)
    if not cert.not_valid_before_utc <= at < cert.not_valid_after_utc - renew:
        return False
    found = store.status_of(TSA_ISSUER, cert.serial_number)
    return found is not None and found[0] is CertStatus.VALID


def current_tsa(store: Store, keys: CAKeyStore, *, clock: Clock,
                entropy: Entropy | None = None) -> TimeStampAuthority | None:
    """The home's TSA as it stands, read only; None when there is no usable one."""
    cert = tsa_certificate(store)
    if cert is None or not tsa_usable(store, cert, clock.now()):
        return None
    try:
        key = keys.load(KeyLabel.tsa(TSA_ISSUER))
    except NotFoundError:
        return None
    if key.public_key() != cert.public_key():
        return None
    return TimeStampAuthority(cert, key, clock=clock, entropy=entropy)


def ensure_tsa(store: Store, keys: CAKeyStore, *, clock: Clock, entropy: Entropy,
               issuer_key: CAKey | None = None) -> TimeStampAuthority:
    """The home's TSA, with a new key and certificate when there is no usable one (see the
    module doc). ``issuer_key`` is the root's key (else the key store's)."""
    found = current_tsa(store, keys, clock=clock, entropy=entropy)
    if found is not None:
        return found
    now = clock.now()
    root = store.get_ca(TSA_ISSUER)
    if issuer_key is None:
        issuer_key = keys.load(KeyLabel.of_ca(TSA_ISSUER))
    # One process at a time makes the TSA: under the store's write lock, asked again, since
    # another may have recorded its certificate (its key written before) while this one
    # waited. Two at once would each record one, and the key of one would be lost.
    with store.transaction() as tx:
        found = current_tsa(store, keys, clock=clock, entropy=entropy)
        if found is None:
            found = _make_tsa(tx, root, keys, issuer_key, clock=clock, entropy=entropy, at=now)
            made = True
        else:
            made = False
    if made:
        fault_point("tsa.recorded")
    return found


def _make_tsa(tx: StoreTransaction, root: CARecord, keys: CAKeyStore, issuer_key: CAKey, *,
              clock: Clock, entropy: Entropy, at: dt.datetime) -> TimeStampAuthority:
    """A new TSA key and its certificate, recorded in ``tx``."""
    key = keys.generate(KeyLabel.tsa(TSA_ISSUER), KeyType.RSA2048, replace=True)
    fault_point("tsa.key-written")
    for _ in range(_SERIAL_DRAWS):
        cert = issue_tsa_certificate(root, issuer_key, key, at=at,
                                     serial=random_serial(entropy))
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        record = CertificateRecord(
            ca=TSA_ISSUER, serial=cert.serial_number, subject=cert.subject.rfc4514_string(),
            holder=str(cn[0].value), profile=TSA_PROFILE.name, status=CertStatus.VALID,
            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
            der=cert.public_bytes(serialization.Encoding.DER), issued_at=at,
            key_origin=KeyOrigin.GENERATED)
        try:
            tx.put_certificate(record)  # a refused serial leaves the transaction usable
        except SerialInUseError:
            continue
        return TimeStampAuthority(cert, key, clock=clock, entropy=entropy)
    raise StoreError(f"no unused serial number for the TSA certificate after {_SERIAL_DRAWS} "
                     "draws")
