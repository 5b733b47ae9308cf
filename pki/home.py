"""A kpki home: the folder that holds a CA hierarchy and its store.

Layout::

    <home>/kpki.db               the SQLite store (WAL)
    <home>/cas/<label>/cert.pem  each CA's certificate
    <home>/cas/<label>/key.pem   its private key, PKCS #8 encrypted (0600)

``Home.create`` builds a KISA-style root and one yessign-style licensed CA in a temporary
folder and renames it into place, so an interrupted ``init`` leaves no half-made home.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .authority import CertificateAuthority, build_ca_certificate, check_ca_key
from .clock import Clock, SystemClock
from .entropy import DEFAULT_SERIAL_BITS, Entropy, SystemEntropy, random_serial
from .errors import (
    HomeExistsError,
    HomeNotFoundError,
    PKIError,
    ProfileError,
    SerialInUseError,
    StoreError,
    WrongPasswordError,
)
from .faults import fault_point
from .fsutil import PRIVATE_DIR_MODE, atomic_write, make_dirs
from .keys.atrest import CA_KDF_ITERATIONS, encrypt_private_key, load_private_key_file
from .keys.generate import KeyGenerator, RSAKeyGenerator
from .names import build_name
from .profiles import LICENSED_CA_PROFILE, ROOT_PROFILE, TSA_PROFILE, KeyType, get_style
from .revocation.crl import IssuedCRL, delta_url, issue_crl, write_crl
from .revocation.ocsp import OCSPResponder, issue_signer, signer_is_current
from .store import (
    AuditAction,
    CARecord,
    CertificateRecord,
    CertStatus,
    KeyOrigin,
    Store,
    StoreTransaction,
    open_store,
    sqlite_url,
)
from .timestamp.authority import TimeStampAuthority, issue_tsa_certificate

if TYPE_CHECKING:
    from .cloud.service import Cloud
    from .cloud.vault import KDFParams

__all__ = ["DEFAULT_BASE_URL", "CASettings", "Home", "RootSettings"]

DEFAULT_BASE_URL = "http://127.0.0.1:8880"
DB_NAME = "kpki.db"
ROOT_LABEL = "root"
_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


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


def check_label(label: str) -> str:
    if not _LABEL.match(label):
        raise ProfileError(
            f"CA label {label!r}: 1-32 lower-case letters, digits and '-', not starting with '-'"
        )
    return label


class Home:
    """An opened kpki home."""

    def __init__(self, path: Path, store: Store, *, clock: Clock | None = None,
                 entropy: Entropy | None = None,
                 key_generator: KeyGenerator | None = None) -> None:
        self.path = path
        self.store = store
        self._memory: dict[str, Any] | None = None
        """Responders of a home that lives in memory only (:meth:`in_memory`)."""
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        """CA keys held in memory: all of a memory home's, and those :meth:`unlock` loaded."""
        self.clock: Clock = clock or SystemClock()
        self.entropy: Entropy = entropy or SystemEntropy()
        self.key_generator: KeyGenerator = key_generator or RSAKeyGenerator()

    # -- creation ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        passphrase: bytes | None,
        root: RootSettings = RootSettings(),
        ca: CASettings = CASettings(),
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock | None = None,
        entropy: Entropy | None = None,
        key_generator: KeyGenerator | None = None,
        tsa: bool = False,
        delta_crls: bool = False,
    ) -> Home:
        """Create a home with a root and one licensed CA (and with ``tsa``, the
        time-stamping authority; otherwise :meth:`tsa` makes it when first asked).
        ``delta_crls`` makes full CRLs announce the delta CRLs (:attr:`delta_crls`).

        ``passphrase=None`` stores the CA keys unencrypted (an explicit opt-out for
        throwaway homes). Raises :class:`HomeExistsError` if ``path`` holds anything.
        """
        target = Path(path).absolute()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise HomeExistsError(
                f"{target} exists and is not empty; a home is created in a new folder",
                path=str(target))
        check_label(ca.label)
        if ca.label == ROOT_LABEL:
            raise ProfileError(f"the label {ROOT_LABEL!r} is the root's")
        get_style(ca.style)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.init-"))
        except OSError as exc:
            raise HomeExistsError(f"cannot create {target}: {exc.strerror}",
                                  path=str(target)) from None
        try:
            home = cls._build(staging, passphrase=passphrase, root=root, ca=ca,
                              base_url=base_url.rstrip("/"), clock=clock, entropy=entropy,
                              key_generator=key_generator)
            if tsa:
                home.tsa(passphrase=passphrase)
            if delta_crls:
                home.set_delta_crls(True)
            home.store.close()
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls.open(target, clock=clock, entropy=entropy, key_generator=key_generator)

    @classmethod
    def _build(cls, staging: Path, *, passphrase: bytes | None, root: RootSettings,
               ca: CASettings, base_url: str, clock: Clock | None, entropy: Entropy | None,
               key_generator: KeyGenerator | None) -> Home:
        os.chmod(staging, 0o700)
        # Made 0600 before SQLite opens it (its -wal and -shm files take the same mode),
        # whatever the umask.
        os.close(os.open(staging / DB_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(staging / DB_NAME, 0o600)
        store = open_store(sqlite_url(staging / DB_NAME), create=True)
        home = cls(staging, store, clock=clock, entropy=entropy, key_generator=key_generator)
        home._populate(passphrase=passphrase, root=root, ca=ca, base_url=base_url)
        return home

    @classmethod
    def in_memory(cls, *, root: RootSettings = RootSettings(), ca: CASettings = CASettings(),
                  base_url: str = DEFAULT_BASE_URL, clock: Clock | None = None,
                  entropy: Entropy | None = None,
                  key_generator: KeyGenerator | None = None,
                  time_travel: bool = False) -> Home:
        """A home with nothing on disk: an in-memory store, keys held in memory (tests).

        ``time_travel`` lets the clock go back on purpose: times are recorded as the clock
        gives them, and CRLs may be older than the last one (see
        :meth:`pki.store.StoreTransaction.event_time`)."""
        store = open_store("sqlite://:memory:", time_order=not time_travel)
        home = cls(Path("<memory>"), store, clock=clock, entropy=entropy,
                   key_generator=key_generator)
        home._memory = {}
        home._populate(passphrase=None, root=root, ca=ca, base_url=base_url.rstrip("/"))
        return home

    def _populate(self, *, passphrase: bytes | None, root: RootSettings, ca: CASettings,
                  base_url: str) -> None:
        home, store = self, self.store
        now = home.clock.now()
        root_key = home.key_generator.generate(root.key_type.bits)
        root_name = build_name(country=root.country, organization=root.organization,
                               units=(root.unit,), common_name=root.common_name)
        root_cert = build_ca_certificate(
            subject=root_name, public_key=root_key.public_key(), issuer=None,
            issuer_key=root_key, profile=ROOT_PROFILE,
            serial=random_serial(home.entropy, root.serial_bits), not_before=now,
            cps_url=f"{base_url}/cps/{ROOT_LABEL}.html", crl_url=None)
        root_record = CARecord(
            label=ROOT_LABEL, parent=None, style="root",
            der=root_cert.public_bytes(serialization.Encoding.DER),
            crl_url=f"{base_url}/crl/{ROOT_LABEL}.crl", ocsp_url=None,
            cps_url=f"{base_url}/cps/{ROOT_LABEL}.html", created_at=now)
        home._write_ca_files(ROOT_LABEL, root_cert, root_key, passphrase)
        with store.transaction() as tx:
            tx.set_meta("keys_encrypted", "1" if passphrase else "0")
            tx.set_meta("base_url", base_url)
            tx.put_ca(root_record)
            tx.audit(AuditAction.CA_CREATED, at=now, ca=ROOT_LABEL,
                     serial=root_cert.serial_number,
                     detail={"subject": root_cert.subject.rfc4514_string(), "root": True})
        home._add_ca(ca, root_record, root_key, passphrase)

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock | None = None,
             entropy: Entropy | None = None,
             key_generator: KeyGenerator | None = None) -> Home:
        """Open an existing home; :class:`HomeNotFoundError` or :class:`StoreError` if
        there is none or it is damaged."""
        target = Path(path).absolute()
        db = target / DB_NAME
        if not db.is_file():
            raise HomeNotFoundError(
                f"no kpki home at {target} (run 'kpki init' to create one)", path=str(target))
        store = open_store(sqlite_url(db))
        try:
            if store.get_meta("base_url") is None:
                raise StoreError(f"{db} is not a kpki store")
        except BaseException:
            store.close()
            raise
        return cls(target, store, clock=clock, entropy=entropy, key_generator=key_generator)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Home:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- CAs --------------------------------------------------------------------------

    @property
    def keys_encrypted(self) -> bool:
        return self.store.get_meta("keys_encrypted") == "1"

    @property
    def base_url(self) -> str:
        return self.store.get_meta("base_url") or DEFAULT_BASE_URL

    @property
    def delta_crls(self) -> bool:
        """Whether full CRLs announce the delta CRLs (freshestCRL). Delta CRLs are made
        and served either way; announcing them is off by default because strict clients
        that fetch revocation data themselves but no deltas (pyhanko-certvalidator, Java)
        fail every check whose full CRL announces one (docs/lifecycle.md)."""
        return self.store.get_meta("delta_crls") == "1"

    def set_delta_crls(self, announce: bool) -> None:
        """Turn the announcement of delta CRLs on or off, from the next full CRL on."""
        with self.store.transaction() as tx:
            tx.set_meta("delta_crls", "1" if announce else "0")
            tx.audit(AuditAction.CRL_DELTAS, at=self.clock.now(), detail={"announced": announce})

    def ca_dir(self, label: str) -> Path:
        return self.path / "cas" / label

    def list_cas(self) -> list[CARecord]:
        return list(self.store.list_cas())

    def check_cloud_ca(self, label: str) -> CARecord:
        """CA ``label``, checked able to issue the cloud's financial certificates.

        Raises :class:`UnknownCAError` when there is no such CA, :class:`ProfileError` for
        a root (it issues CA certificates only) or a CA whose style has no financial policy
        (only yessign issues them)."""
        from .profiles import FINANCIAL_PROFILES

        record = self.store.get_ca(label)
        if record.is_root:
            raise ProfileError(f"CA {label!r} is a root CA: it issues only CA certificates, "
                               "not financial certificates", profile="financial-personal")
        for profile in FINANCIAL_PROFILES.values():
            if record.style not in profile.policy_oids:
                raise ProfileError(f"CA {label!r}: a {record.style}-style CA does not issue "
                                   "financial certificates", profile=profile.name)
        return record

    def cloud_ca_label(self) -> str | None:
        """The first CA that can issue financial certificates (the cloud's default CA), or
        None when no CA of this home can."""
        for record in self.store.list_cas():
            try:
                return self.check_cloud_ca(record.label).label
            except ProfileError:
                continue
        return None

    def default_ca_label(self) -> str:
        """The first licensed CA (the one ``init`` made)."""
        for record in self.store.list_cas():
            if not record.is_root:
                return record.label
        raise ProfileError("this home has no licensed CA")

    def chain_of(self, label: str) -> tuple[x509.Certificate, ...]:
        """The certificates above ``label``, nearest first, ending at the root."""
        chain = []
        record = self.store.get_ca(label)
        while record.parent is not None:
            record = self.store.get_ca(record.parent)
            chain.append(record.certificate)
        return tuple(chain)

    def unlock(self, passphrase: bytes | None, *, keys_from: Home | None = None) -> None:
        """Load every CA key now and keep it, so later work does not decrypt it again.

        A long-running process (``kpki serve``) calls this once; each key file costs a
        full PBKDF2 run to open. ``keys_from`` takes the keys another unlocked handle on
        the same home holds instead of opening the files again.
        """
        for record in self.store.list_cas():
            held = keys_from._keys.get(record.label) if keys_from is not None else None
            self._keys[record.label] = held or self.load_ca_key(record.label, passphrase)

    def load_ca_key(self, label: str, passphrase: bytes | None) -> rsa.RSAPrivateKey:
        """The CA's private key; :class:`WrongPasswordError` if the passphrase fails."""
        self.store.get_ca(label)
        held = self._keys.get(label)
        if held is not None:
            return held
        if self.keys_encrypted and not passphrase:
            raise WrongPasswordError("the CA keys of this home are encrypted: give the passphrase")
        key = load_private_key_file(self.ca_dir(label) / "key.pem",
                                    passphrase if self.keys_encrypted else None)
        return check_ca_key(key)

    def authority(self, label: str | None = None, *, passphrase: bytes | None = None
                  ) -> CertificateAuthority:
        """A :class:`CertificateAuthority` ready to issue from the licensed CA ``label``."""
        label = label or self.default_ca_label()
        record = self.store.get_ca(label)
        if record.is_root:
            raise ProfileError(f"{label!r} is the root; it issues only CA certificates")
        key = self.load_ca_key(label, passphrase)
        return CertificateAuthority(record, key, store=self.store, chain=self.chain_of(label),
                                    clock=self.clock, entropy=self.entropy,
                                    key_generator=self.key_generator)

    def add_ca(self, settings: CASettings, *, passphrase: bytes | None) -> CARecord:
        """Add a licensed CA under the root, signed with the root key."""
        check_label(settings.label)
        get_style(settings.style)
        if any(r.label == settings.label for r in self.store.list_cas()):
            raise ProfileError(f"a CA labelled {settings.label!r} exists already")
        root = next(r for r in self.store.list_cas() if r.is_root)
        root_key = self.load_ca_key(root.label, passphrase)
        return self._add_ca(settings, root, root_key, passphrase if self.keys_encrypted else None)

    def _add_ca(self, settings: CASettings, root: CARecord, root_key: rsa.RSAPrivateKey,
                passphrase: bytes | None) -> CARecord:
        style = get_style(settings.style)
        base = self.base_url
        label = settings.label
        now = self.clock.now()
        key = self.key_generator.generate(settings.key_type.bits)
        name = build_name(country=style.country, organization=style.organization,
                          units=(style.ca_unit,),
                          common_name=settings.common_name or style.default_ca_name)
        bits = style.serial_bits if settings.serial_bits is None else settings.serial_bits
        for _attempt in range(8):
            cert = build_ca_certificate(
                subject=name, public_key=key.public_key(), issuer=root.certificate,
                issuer_key=root_key, profile=LICENSED_CA_PROFILE,
                serial=random_serial(self.entropy, bits), not_before=now,
                cps_url=settings.cps_url or f"{base}/cps/{label}.html", crl_url=root.crl_url)
            record = CARecord(
                label=label, parent=root.label, style=style.name,
                der=cert.public_bytes(serialization.Encoding.DER),
                crl_url=settings.crl_url or f"{base}/crl/{label}.crl",
                ocsp_url=settings.ocsp_url or f"{base}/ocsp/{label}",
                cps_url=settings.cps_url or f"{base}/cps/{label}.html", created_at=now)
            self._write_ca_files(label, cert, key, passphrase)
            try:
                with self.store.transaction() as tx:
                    # Under the write lock: a serial the root has given is drawn again.
                    if self._serial_taken(root.label, cert.serial_number):
                        raise SerialInUseError(cert.serial_number, ca=root.label)
                    tx.put_ca(record)
                    tx.audit(AuditAction.CA_CREATED, at=now, ca=label, serial=cert.serial_number,
                             detail={"subject": cert.subject.rfc4514_string(),
                                     "parent": root.label, "style": style.name})
            except SerialInUseError:
                shutil.rmtree(self.ca_dir(label), ignore_errors=True)
                continue
            except BaseException:
                shutil.rmtree(self.ca_dir(label), ignore_errors=True)
                raise
            return record
        raise StoreError(f"no unused serial for CA {label!r} after 8 draws: is the entropy "
                         "source broken?")

    def _serial_taken(self, issuer: str, serial: int) -> bool:
        """Whether CA ``issuer`` has given ``serial`` to a CA or another certificate."""
        return any(r.parent == issuer and r.certificate.serial_number == serial
                   for r in self.store.list_cas()) or bool(
            self.store.find_certificates(serial, ca=issuer))

    @property
    def publish_dir(self) -> Path:
        """Where CRLs are published; ``kpki serve`` serves this folder."""
        return self.path / "publish"

    def publish_crls(self, *, passphrase: bytes | None, delta: bool = False,
                     labels: list[str] | None = None) -> list[tuple[IssuedCRL, Path | None]]:
        """Issue and write the next CRL of each CA (the root's included).

        With ``delta``, CAs without a full CRL yet are skipped. Returns each CRL with the
        path of its DER file, or None where it was not written: a memory home, or another
        publisher wrote a newer CRL there meanwhile (see :func:`pki.revocation.crl.write_crl`).
        """
        done: list[tuple[IssuedCRL, Path | None]] = []
        announce = self.delta_crls
        for record in self.store.list_cas():
            if labels is not None and record.label not in labels:
                continue
            if delta and self.store.last_crl(record.label) is None:
                continue
            key = self.load_ca_key(record.label, passphrase)
            crl = issue_crl(record, key, self.store, at=self.clock.now(), delta=delta,
                            announce_delta=announce)
            url = delta_url(record.crl_url) if delta else record.crl_url
            if self._memory is not None:
                done.append((crl, None))  # nothing on disk in a memory home
                continue
            paths = write_crl(crl, self.publish_dir, url)
            done.append((crl, None if paths is None else paths[0]))
        return done

    def ocsp_responder(self, label: str, *, passphrase: bytes | None) -> OCSPResponder:
        """The OCSP responder of CA ``label``, with its delegated signing certificate.

        The signing key and certificate live beside the CA's (``ocsp-key.pem``,
        ``ocsp-cert.pem``); a new pair is issued when there is none or the certificate
        ends within a week.
        """
        record = self.store.get_ca(label)
        now = self.clock.now()
        if self._memory is not None:
            cached = self._memory.get(f"{label}/ocsp")
            if cached is None:
                fresh_key = self.key_generator.generate(2048)
                cached = self._memory[f"{label}/ocsp"] = (
                    issue_signer(record, self.load_ca_key(label, None), fresh_key, at=now,
                                 entropy=self.entropy), fresh_key)
            return OCSPResponder(record, cached[0], cached[1], self.store, self.clock)
        folder = self.ca_dir(label)
        cert_path, key_path = folder / "ocsp-cert.pem", folder / "ocsp-key.pem"
        signer: x509.Certificate | None = None
        signer_key: rsa.RSAPrivateKey | None = None
        if cert_path.is_file() and key_path.is_file():
            signer = x509.load_pem_x509_certificate(cert_path.read_bytes())
            loaded = load_private_key_file(key_path,
                                           passphrase if self.keys_encrypted else None)
            signer_key = check_ca_key(loaded)
            if not signer_is_current(signer, at=now):
                signer = signer_key = None
        if signer is None or signer_key is None:
            ca_key = self.load_ca_key(label, passphrase)
            signer_key = self.key_generator.generate(2048)
            signer = issue_signer(record, ca_key, signer_key, at=now, entropy=self.entropy)
            key_pem = (encrypt_private_key(signer_key, passphrase)
                       if self.keys_encrypted and passphrase else
                       signer_key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
            atomic_write(key_path, key_pem, mode=0o600)
            atomic_write(cert_path, signer.public_bytes(serialization.Encoding.PEM))
            with self.store.transaction() as tx:
                tx.audit(AuditAction.OCSP_SIGNER_ISSUED, at=now, ca=label,
                         serial=signer.serial_number,
                         detail={"not_after": signer.not_valid_after_utc.isoformat()})
        return OCSPResponder(record, signer, signer_key, self.store, self.clock)

    @property
    def tsa_url(self) -> str:
        """Where ``kpki serve`` answers time-stamp requests (RFC 3161 over HTTP)."""
        return f"{self.base_url}/tsa"

    def tsa_certificate(self) -> x509.Certificate | None:
        """The TSA's current certificate without opening its key; None before there is one."""
        if self._memory is not None:
            held: TimeStampAuthority | None = self._memory.get("tsa")
            return None if held is None else held.certificate
        try:
            return x509.load_pem_x509_certificate(
                (self.ca_dir(ROOT_LABEL) / "tsa-cert.pem").read_bytes())
        except (OSError, ValueError):
            return None

    def tsa(self, *, passphrase: bytes | None) -> TimeStampAuthority:
        """The home's time-stamping authority, whose certificate the root issues.

        Its key and certificate live beside the root's (``tsa-key.pem``, encrypted like
        the CA keys when they are, and ``tsa-cert.pem``); the certificate is recorded in
        the store as one of the root's (profile ``tsa``), so ``kpki cert revoke --ca root``
        revokes it and the root's CRL lists it. A new pair is issued, with the root key
        (``passphrase`` opens it), when there is none, the files do not match, the store
        does not hold the certificate as valid, or it ends within
        ``TSA_PROFILE.renew_before_days``. Processes asking at once make one TSA: a new
        pair is made under the store's write lock, after the files are read again there
        (another process may have made it meanwhile), and its files are written before
        the record commits; a crash in between leaves files whose certificate the store
        does not hold as valid, which the next call replaces.
        """
        now = self.clock.now()
        if self._memory is not None:
            held: TimeStampAuthority | None = self._memory.get("tsa")
            if held is None or not self._tsa_usable(held.certificate, now):
                with self.store.transaction() as tx:
                    pair = self._issue_tsa(tx, self.load_ca_key(ROOT_LABEL, None), now)
                held = self._memory["tsa"] = TimeStampAuthority(
                    *pair, clock=self.clock, entropy=self.entropy)
            return held
        found = self._tsa_on_disk(passphrase, now)
        if found is not None:
            return found
        if self.keys_encrypted and not passphrase:
            raise WrongPasswordError(
                "the CA keys of this home are encrypted: give the passphrase")
        root_key = self.load_ca_key(ROOT_LABEL, passphrase)
        folder = self.ca_dir(ROOT_LABEL)
        made = False
        with self.store.transaction() as tx:
            found = self._tsa_on_disk(passphrase, now)
            if found is None:
                cert, key = self._issue_tsa(tx, root_key, now)
                key_pem = (encrypt_private_key(key, passphrase)
                           if self.keys_encrypted and passphrase else
                           key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
                atomic_write(folder / "tsa-key.pem", key_pem, mode=0o600)
                fault_point("tsa.key-written")
                atomic_write(folder / "tsa-cert.pem",
                             cert.public_bytes(serialization.Encoding.PEM))
                found, made = TimeStampAuthority(cert, key, clock=self.clock,
                                                 entropy=self.entropy), True
        if made:
            fault_point("tsa.recorded")
        return found

    def _tsa_on_disk(self, passphrase: bytes | None, now: dt.datetime
                     ) -> TimeStampAuthority | None:
        """The TSA its files hold, when they match and the store holds it as usable."""
        folder = self.ca_dir(ROOT_LABEL)
        cert_path, key_path = folder / "tsa-cert.pem", folder / "tsa-key.pem"
        if not (cert_path.is_file() and key_path.is_file()):
            return None
        key = check_ca_key(load_private_key_file(
            key_path, passphrase if self.keys_encrypted else None))
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError:
            return None
        if cert.public_key() != key.public_key() or not self._tsa_usable(cert, now):
            return None
        return TimeStampAuthority(cert, key, clock=self.clock, entropy=self.entropy)

    def _tsa_usable(self, cert: x509.Certificate, now: dt.datetime) -> bool:
        renew = dt.timedelta(days=TSA_PROFILE.renew_before_days)
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - renew:
            return False
        found = self.store.status_of(ROOT_LABEL, cert.serial_number)
        return found is not None and found[0] is CertStatus.VALID

    def _issue_tsa(self, tx: StoreTransaction, root_key: rsa.RSAPrivateKey, now: dt.datetime
                   ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """A new TSA key and its certificate, recorded in ``tx``."""
        root = self.store.get_ca(ROOT_LABEL)
        key = self.key_generator.generate(2048)
        for _ in range(8):
            cert = issue_tsa_certificate(root, root_key, key, at=now,
                                         serial=random_serial(self.entropy))
            cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            record = CertificateRecord(
                ca=ROOT_LABEL, serial=cert.serial_number, subject=cert.subject.rfc4514_string(),
                holder=str(cn[0].value), profile=TSA_PROFILE.name, status=CertStatus.VALID,
                not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                der=cert.public_bytes(serialization.Encoding.DER), issued_at=now,
                key_origin=KeyOrigin.GENERATED)
            try:
                tx.put_certificate(record)  # a refused serial leaves the transaction usable
            except SerialInUseError:
                continue
            return cert, key
        raise StoreError("no unused serial number for the TSA certificate after 8 draws")

    @property
    def vault_secret_path(self) -> Path:
        return self.path / "cloud" / "vault.secret"

    def cloud_factory(self, *, passphrase: bytes | None, ca: str | None = None,
                      create_secret: bool = True, kdf: KDFParams | None = None
                      ) -> Callable[[], Cloud]:
        """A function that makes a :class:`pki.cloud.service.Cloud` over this home for the
        calling thread (its own store connection; the CA key is loaded once, here).

        Raises :class:`VaultError` when the vault holds sealed keys and the vault secret
        is missing or is not the one they were sealed under (a new secret is made only
        for an empty vault). PIN checks left in flight by processes that died are
        forgotten here (they were never charged)."""
        from .cloud.boot import Boot
        from .cloud.service import Cloud, start_cloud
        from .cloud.vault import Vault

        label = ca or self.cloud_ca_label()
        if label is None:
            raise ProfileError("no CA of this home issues financial certificates",
                               profile="financial-personal")
        record = self.check_cloud_ca(label)  # before anything is created for the cloud
        key = self.load_ca_key(label, passphrase)
        boot = Boot.of(self.path / "cloud" / "boots")
        secret = start_cloud(self.store, secret_path=self.vault_secret_path,
                             create_secret=create_secret, boot=boot, at=self.clock.now())
        chain = self.chain_of(label)
        path, clock, entropy, keygen = self.path, self.clock, self.entropy, self.key_generator

        def make() -> Cloud:
            home = Home.open(path, clock=clock, entropy=entropy, key_generator=keygen)
            authority = CertificateAuthority(record, key, store=home.store, chain=chain,
                                             clock=clock, entropy=entropy,
                                             key_generator=keygen)
            return Cloud(authority, Vault(secret, kdf=kdf), boot=boot)

        return make

    def _write_ca_files(self, label: str, cert: x509.Certificate, key: rsa.RSAPrivateKey,
                        passphrase: bytes | None) -> None:
        if self._memory is not None:
            self._keys[label] = key
            return
        folder = self.ca_dir(label)
        try:
            make_dirs(folder.parent, mode=PRIVATE_DIR_MODE)
            folder.mkdir(exist_ok=False, mode=PRIVATE_DIR_MODE)
            os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
        except FileExistsError:
            raise ProfileError(f"files for CA {label!r} exist already in {folder}") from None
        except OSError as exc:
            raise PKIError(f"cannot create {folder}: {exc.strerror}") from None
        if passphrase:
            key_pem = encrypt_private_key(key, passphrase, iterations=CA_KDF_ITERATIONS)
        else:
            key_pem = key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        try:
            atomic_write(folder / "key.pem", key_pem, mode=0o600)
            atomic_write(folder / "cert.pem", cert.public_bytes(serialization.Encoding.PEM))
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.rmtree(folder)
            raise
