"""The CA hierarchy: a KISA-style root and the licensed CAs under it (korean-pki.md
section 2).

:func:`create_root` and :func:`add_ca` make a CA's key in the CA key store
(:mod:`pki.keys.castore`), sign its certificate and record it with its ``ca.created`` audit
row in one store transaction. If anything fails before that transaction commits, the key
is deleted again: no CA key exists that the store does not know. A licensed CA's serial is
checked against what the root has given under the store's write lock, and drawn again on a
collision.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .authority import build_ca_certificate
from .clock import Clock
from .entropy import DEFAULT_SERIAL_BITS, Entropy, random_serial
from .errors import ProfileError, SerialInUseError, StoreError
from .keys.castore import CAKey, CAKeyStore, KeyLabel
from .names import build_name
from .profiles import FINANCIAL_PROFILES, LICENSED_CA_PROFILE, ROOT_PROFILE, KeyType, get_style
from .revocation.shards import check_crl_shards, check_shard_change
from .store import AuditAction, CARecord, Store

__all__ = [
    "ROOT_LABEL",
    "CASettings",
    "RootSettings",
    "add_ca",
    "chain_of",
    "check_financial_ca",
    "check_label",
    "create_root",
    "default_ca_label",
    "financial_ca_label",
    "set_crl_shards",
]

ROOT_LABEL = "root"
_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_SERIAL_DRAWS = 8


@dataclass(frozen=True)
class RootSettings:
    """The KISA-style root (korean-pki.md section 2)."""

    common_name: str = "Kisa Test RootCA 7"
    organization: str = "KISA"
    unit: str = "Korea Certification Authority Central"
    country: str = "KR"
    key_type: KeyType = KeyType.RSA2048
    serial_bits: int = DEFAULT_SERIAL_BITS
    """Random bits in the root certificate's serial (63: a signed 64-bit integer)."""


@dataclass(frozen=True)
class CASettings:
    """A licensed CA under the root. Empty names take the style's defaults."""

    label: str = "yessign"
    style: str = "yessign"
    common_name: str = ""
    key_type: KeyType = KeyType.RSA2048
    crl_url: str = ""
    """Defaults to ``<base>/crl/<label>.crl``."""
    ocsp_url: str = ""
    """Defaults to ``<base>/ocsp/<label>``."""
    cps_url: str = ""
    """Defaults to ``<base>/cps/<label>.html``."""
    serial_bits: int | None = None
    """Random bits in this CA certificate's serial; None: the style's (63)."""
    crl_shards: int = 1
    """How many CRLs its certificates are spread over (:mod:`pki.revocation.shards`, 1 to
    256); 1: one CRL at ``crl_url``."""


def check_label(label: str) -> str:
    """``label`` if it can name a CA; :class:`ProfileError` otherwise."""
    if not _LABEL.match(label):
        raise ProfileError(
            f"CA label {label!r}: 1-32 lower-case letters, digits and '-', not starting with '-'"
        )
    return label


def create_root(store: Store, keys: CAKeyStore, settings: RootSettings, *, base_url: str,
                clock: Clock, entropy: Entropy) -> CARecord:
    """Make the root: its key (labelled ``root``), its self-signed certificate, its record."""
    now = clock.now()
    label = KeyLabel.of_ca(ROOT_LABEL)
    key = keys.generate(label, settings.key_type)
    try:
        name = build_name(country=settings.country, organization=settings.organization,
                          units=(settings.unit,), common_name=settings.common_name)
        cps_url = f"{base_url}/cps/{ROOT_LABEL}.html"
        cert = build_ca_certificate(
            subject=name, public_key=key.public_key(), issuer=None, issuer_key=key,
            profile=ROOT_PROFILE, serial=random_serial(entropy, settings.serial_bits),
            not_before=now, cps_url=cps_url, crl_url=None)
        record = CARecord(
            label=ROOT_LABEL, parent=None, style="root",
            der=cert.public_bytes(serialization.Encoding.DER),
            crl_url=f"{base_url}/crl/{ROOT_LABEL}.crl", ocsp_url=None, cps_url=cps_url,
            created_at=now)
        with store.transaction() as tx:
            tx.put_ca(record)
            tx.audit(AuditAction.CA_CREATED, at=now, ca=ROOT_LABEL, serial=cert.serial_number,
                     detail={"subject": cert.subject.rfc4514_string(), "root": True,
                             "key": str(label), "key_store": keys.description})
    except BaseException:
        keys.delete(label)
        raise
    return record


def add_ca(store: Store, keys: CAKeyStore, settings: CASettings, *, base_url: str,
           clock: Clock, entropy: Entropy, root_key: CAKey | None = None) -> CARecord:
    """Add a licensed CA under the root, signed with the root's key (``root_key``, or the
    one the key store holds).

    Raises :class:`ProfileError` for a bad label or style, a label in use or whose key
    exists already (:class:`pki.errors.CAKeyExistsError`), :class:`WrongPasswordError`
    when the key store cannot open the root's key.
    """
    label = check_label(settings.label)
    style = get_style(settings.style)
    check_crl_shards(settings.crl_shards, label=label)
    if label == ROOT_LABEL:
        raise ProfileError(f"the label {ROOT_LABEL!r} is the root's")
    if any(r.label == label for r in store.list_cas()):
        raise ProfileError(f"a CA labelled {label!r} exists already")
    root = next((r for r in store.list_cas() if r.is_root), None)
    if root is None:
        raise ProfileError("this home has no root CA")
    if root_key is None:
        root_key = keys.load(KeyLabel.of_ca(root.label))
    now = clock.now()
    key_label = KeyLabel.of_ca(label)
    key = keys.generate(key_label, settings.key_type)
    try:
        return _sign_and_record(store, settings, style.name, root, root_key, key,
                                base_url=base_url, now=now, entropy=entropy,
                                key_label=key_label, key_store=keys.description)
    except BaseException:
        keys.delete(key_label)
        raise


def _sign_and_record(store: Store, settings: CASettings, style_name: str, root: CARecord,
                     root_key: CAKey, key: CAKey, *, base_url: str, now: dt.datetime,
                     entropy: Entropy, key_label: KeyLabel, key_store: str) -> CARecord:
    style = get_style(style_name)
    label = settings.label
    name = build_name(country=style.country, organization=style.organization,
                      units=(style.ca_unit,),
                      common_name=settings.common_name or style.default_ca_name)
    bits = style.serial_bits if settings.serial_bits is None else settings.serial_bits
    cps_url = settings.cps_url or f"{base_url}/cps/{label}.html"
    for _attempt in range(_SERIAL_DRAWS):
        cert = build_ca_certificate(
            subject=name, public_key=key.public_key(), issuer=root.certificate,
            issuer_key=root_key, profile=LICENSED_CA_PROFILE,
            serial=random_serial(entropy, bits), not_before=now, cps_url=cps_url,
            crl_url=root.crl_url)
        record = CARecord(
            label=label, parent=root.label, style=style.name,
            der=cert.public_bytes(serialization.Encoding.DER),
            crl_url=settings.crl_url or f"{base_url}/crl/{label}.crl",
            ocsp_url=settings.ocsp_url or f"{base_url}/ocsp/{label}",
            cps_url=cps_url, created_at=now, crl_shards=settings.crl_shards)
        try:
            with store.transaction() as tx:
                # Under the write lock: a serial the root has given is drawn again.
                if _serial_taken(store, root.label, cert.serial_number):
                    raise SerialInUseError(cert.serial_number, ca=root.label)
                tx.put_ca(record)
                detail: dict[str, object] = {
                    "subject": cert.subject.rfc4514_string(), "parent": root.label,
                    "style": style.name, "key": str(key_label), "key_store": key_store}
                if settings.crl_shards > 1:
                    detail["crl_shards"] = settings.crl_shards
                tx.audit(AuditAction.CA_CREATED, at=now, ca=label, serial=cert.serial_number,
                         detail=detail)
        except SerialInUseError:
            continue
        return record
    raise StoreError(f"no unused serial for CA {label!r} after {_SERIAL_DRAWS} draws: is the "
                     "entropy source broken?")


def set_crl_shards(store: Store, label: str, shards: int, *, at: dt.datetime) -> CARecord:
    """Spread CA ``label``'s certificates issued from now on over ``shards`` CRLs
    (:mod:`pki.revocation.shards`); those issued before keep the CRL they name. Audited
    ``ca.crl-shards``. Raises :class:`ProfileError` for a number out of bounds, fewer shards
    than before, or shards for the root."""
    with store.transaction() as tx:
        record = store.get_ca(label)
        check_shard_change(label, is_root=record.is_root, old=record.crl_shards, new=shards)
        if shards != record.crl_shards:
            tx.set_crl_shards(label, shards)
            tx.audit(AuditAction.CA_CRL_SHARDS, at=at, ca=label,
                     detail={"from": record.crl_shards, "to": shards})
    return store.get_ca(label)


def _serial_taken(store: Store, issuer: str, serial: int) -> bool:
    """Whether CA ``issuer`` has given ``serial`` to a CA or another certificate."""
    return any(r.parent == issuer and r.certificate.serial_number == serial
               for r in store.list_cas()) or bool(store.find_certificates(serial, ca=issuer))


# -- reading the hierarchy ---------------------------------------------------------------------


def chain_of(store: Store, label: str) -> tuple[x509.Certificate, ...]:
    """The certificates above CA ``label``, nearest first, ending at the root."""
    chain = []
    record = store.get_ca(label)
    while record.parent is not None:
        record = store.get_ca(record.parent)
        chain.append(record.certificate)
    return tuple(chain)


def default_ca_label(cas: Sequence[CARecord]) -> str:
    """The first licensed CA (the one ``init`` made)."""
    for record in cas:
        if not record.is_root:
            return record.label
    raise ProfileError("this home has no licensed CA")


def check_financial_ca(record: CARecord) -> CARecord:
    """``record``, checked able to issue financial certificates (the cloud's).

    Raises :class:`ProfileError` for a root (it issues CA certificates only) or a CA whose
    style has no financial policy (only yessign issues them)."""
    if record.is_root:
        raise ProfileError(f"CA {record.label!r} is a root CA: it issues only CA "
                           "certificates, not financial certificates",
                           profile="financial-personal")
    for profile in FINANCIAL_PROFILES.values():
        if record.style not in profile.policy_oids:
            raise ProfileError(f"CA {record.label!r}: a {record.style}-style CA does not "
                               "issue financial certificates", profile=profile.name)
    return record


def financial_ca_label(cas: Sequence[CARecord]) -> str | None:
    """The first CA that can issue financial certificates, or None."""
    for record in cas:
        try:
            return check_financial_ca(record).label
        except ProfileError:
            continue
    return None
