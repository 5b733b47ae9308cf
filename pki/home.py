"""A kpki home: a store, a CA key store and settings, wired together.

Layout::

    <home>/kpki.db                   the SQLite store (WAL), 0600, or
    <home>/store.url                 the URL of the home's PostgreSQL store (no password), 0600
    <home>/cas/<label>/key.pem       each CA's key, PKCS #8, encrypted (0600, folder 0700)
    <home>/cas/<label>/cert.pem      a copy of its certificate (the store holds it)
    <home>/cas/<label>/ocsp-key.pem  its delegated OCSP signer's key
    <home>/cas/root/tsa-key.pem      the time-stamping authority's key
    <home>/cas/root/tsa-cert.pem     a copy of its certificate (the store holds it)
    <home>/publish/                  CRL files (DER and PEM) at their URL paths
    <home>/cloud/                    the cloud's vault secret and process markers

A home does no work of its own: CA creation is :mod:`pki.hierarchy`, issuance
:mod:`pki.authority`, CRL publishing, OCSP signer rotation and the TSA :mod:`pki.publisher`
(with :mod:`pki.revocation` and :mod:`pki.timestamp.management`), CA keys
:mod:`pki.keys.castore`. Its methods hand those the home's store, key store, clock and
entropy, for the CLI, the tests and scripts.

``Home.create`` builds a KISA-style root and one yessign-style licensed CA in a temporary
folder and renames it into place, so an interrupted ``init`` leaves no half-made home.

A home's store is an SQLite file in its folder, or a PostgreSQL database (``kpki init
--store postgresql://...``) that ``store.url`` names: the folder then keeps the CA keys, the
publish folder and that file. The URL never holds the password (libpq takes it from
PGPASSWORD, a password file or a service file), and a database that holds a kpki home
already is refused: replicas sharing one store each use a copy of the first home's folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from .clock import Clock, SystemClock
from .entropy import Entropy, SystemEntropy
from .errors import (
    HomeExistsError,
    HomeNotFoundError,
    PKIError,
    ProfileError,
    StoreError,
    StoreURLError,
)

if TYPE_CHECKING:
    from cryptography import x509

    from .authority import CertificateAuthority
    from .cloud.service import Cloud
    from .cloud.vault import KDFParams
    from .hierarchy import ROOT_LABEL, CASettings, RootSettings, check_label
    from .keys.castore import CAKey, CAKeyStore, FileCAKeyStore
    from .keys.generate import KeyGenerator
    from .keys.pkcs11 import PerCAKeyStore, PinSource, PKCS11CAKeyStore
    from .leadership import Lease
    from .publisher import Publisher
    from .revocation.crl import IssuedCRL
    from .revocation.ocsp import OCSPResponder
    from .store import CARecord, Store
    from .timestamp.authority import TimeStampAuthority

_FROM_HIERARCHY = ("ROOT_LABEL", "CASettings", "RootSettings", "check_label")


def __getattr__(name: str) -> Any:
    # What the home re-exports from pki.hierarchy, imported on first use: opening a home
    # to read it (``kpki cert show``) does not pay for the CA machinery (issue 18).
    if name in _FROM_HIERARCHY:
        from . import hierarchy

        return getattr(hierarchy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_BASE_URL", "ROOT_LABEL", "CASettings", "Home", "RootSettings",
           "check_label", "check_store_url"]

DEFAULT_BASE_URL = "http://127.0.0.1:8880"
DB_NAME = "kpki.db"
STORE_URL_FILE = "store.url"
"""In a home whose store is not its SQLite file: the store's URL (a line, no password)."""
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")
PUBLISHER_LOCK_FILE = "publisher.lock"
"""The lock file of an SQLite home's publisher lease (:class:`pki.leadership.FileLease`)."""
MEMORY_PATH = Path("<memory>")
CA_KEYS_META = "ca_keys"
"""The PKCS #11 URI of the token holding the home's CA keys (``kpki init --ca-keys``);
``ca_keys:<label>`` the one holding CA ``label``'s (``kpki ca add --ca-keys``). Never a PIN."""
TIME_TRAVEL_META = "time_travel"


class Home:
    """An opened kpki home: :attr:`store`, :attr:`keys` (the CA key store), the folder
    layout and the base URL, with the injected clock, entropy and key generator."""

    def __init__(self, path: Path, store: Store, keys: CAKeyStore | None, *,
                 clock: Clock | None = None, entropy: Entropy | None = None,
                 key_generator: KeyGenerator | None = None) -> None:
        self.path = path
        self.store: Store = store
        self._keys = keys
        self._passphrase: bytes | None = None
        self.clock: Clock = clock or SystemClock()
        self.entropy: Entropy = entropy or SystemEntropy()
        self._key_generator = key_generator
        self._publishers: dict[bytes | None, Publisher] = {}
        self._responders: dict[str, OCSPResponder] = {}
        self.pin: PinSource = None
        """The user PIN of the tokens holding CA keys, or what gives it when first needed."""

    @property
    def keys(self) -> CAKeyStore:
        """The CA key store: the home's key files, or the tokens its settings name. A home
        opened with :meth:`open` opens it when first asked, so a command that reads the
        store only (``kpki cert show``) neither reads key settings nor imports the key
        machinery."""
        if self._keys is None:
            from .keys.castore import FileCAKeyStore

            self._keys = _key_store(self.store, FileCAKeyStore(
                self.path / "cas", encrypted=self.keys_encrypted, passphrase=self._passphrase,
                key_generator=self._key_generator), pin=self.pin)
        return self._keys

    @keys.setter
    def keys(self, keys: CAKeyStore) -> None:
        self._keys = keys

    @property
    def key_generator(self) -> KeyGenerator:
        """What makes new keys (RSA by default)."""
        if self._key_generator is None:
            from .keys.generate import RSAKeyGenerator

            self._key_generator = RSAKeyGenerator()
        return self._key_generator

    @property
    def on_disk(self) -> bool:
        """False for a home that lives in memory only (:meth:`in_memory`)."""
        return self.path != MEMORY_PATH

    # -- creation ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        passphrase: bytes | None,
        root: RootSettings | None = None,
        ca: CASettings | None = None,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock | None = None,
        entropy: Entropy | None = None,
        key_generator: KeyGenerator | None = None,
        tsa: bool = False,
        delta_crls: bool = False,
        time_travel: bool = False,
        ca_keys: str | None = None,
        pin: PinSource = None,
        store_url: str | None = None,
    ) -> Home:
        """Create a home with a root and one licensed CA (and with ``tsa``, the
        time-stamping authority; otherwise :meth:`tsa` makes it when first asked).
        ``delta_crls`` makes full CRLs announce the delta CRLs (:attr:`delta_crls`).
        ``time_travel`` makes a test home whose clock may go back (:attr:`time_travel`).

        ``passphrase=None`` stores the CA keys unencrypted (an explicit opt-out for
        throwaway homes). Raises :class:`HomeExistsError` if ``path`` holds anything.

        ``store_url`` (``postgresql://user@host/db``) keeps the store in that PostgreSQL
        database instead of ``kpki.db``; the folder names it in ``store.url``. Raises
        :class:`StoreURLError` for a URL that is not PostgreSQL's or carries a password
        (libpq reads it from PGPASSWORD, PGPASSFILE or a service file), and
        :class:`HomeExistsError` when the database holds a kpki home already.

        ``ca_keys``, a PKCS #11 URI (``pkcs11:token=…?module-path=…``), makes the CA keys in
        that token instead (:mod:`pki.keys.pkcs11`), logging in with ``pin``; the token is
        reached and the PIN checked before anything is written, and a failed creation
        destroys the keys it made there (:class:`pki.errors.HSMError`,
        :class:`pki.errors.WrongPasswordError`).
        """
        import shutil
        import tempfile

        from .hierarchy import ROOT_LABEL, CASettings, RootSettings, check_label
        from .keys.castore import FileCAKeyStore
        from .keys.pkcs11 import PKCS11CAKeyStore
        from .profiles import get_style

        root = root or RootSettings()
        ca = ca or CASettings()
        target = Path(path).absolute()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise HomeExistsError(
                f"{target} exists and is not empty; a home is created in a new folder",
                path=str(target))
        check_label(ca.label)
        if ca.label == ROOT_LABEL:
            raise ProfileError(f"the label {ROOT_LABEL!r} is the root's")
        get_style(ca.style)
        if store_url is not None:
            check_store_url(store_url)
        hsm = None if ca_keys is None else PKCS11CAKeyStore(ca_keys, pin=pin)
        if hsm is not None:
            if passphrase:
                raise ProfileError("CA keys in a token have no passphrase: the token's PIN "
                                   "guards them")
            hsm.check()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.init-"))
        except OSError as exc:
            raise HomeExistsError(f"cannot create {target}: {exc.strerror}",
                                  path=str(target)) from None
        try:
            os.chmod(staging, 0o700)
            store = _create_store(staging, store_url)
            keys: CAKeyStore = hsm or FileCAKeyStore(
                staging / "cas", encrypted=bool(passphrase), passphrase=passphrase,
                key_generator=key_generator)
            home = cls(staging, store, keys, clock=clock, entropy=entropy,
                       key_generator=key_generator)
            if hsm is not None:
                with store.transaction() as tx:
                    tx.set_meta(CA_KEYS_META, str(hsm.uri))
            home._populate(root=root, ca=ca, base_url=base_url.rstrip("/"),
                           encrypted=bool(passphrase), time_travel=time_travel)
            if tsa:
                home.tsa(passphrase=passphrase)
            if delta_crls:
                home.set_delta_crls(True)
            home.store.close()
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if hsm is not None:
                _forget_keys(hsm)
            raise
        return cls.open(target, clock=clock, entropy=entropy, key_generator=key_generator,
                        pin=hsm.pin if hsm is not None else None)

    @classmethod
    def in_memory(cls, *, root: RootSettings | None = None, ca: CASettings | None = None,
                  base_url: str = DEFAULT_BASE_URL, clock: Clock | None = None,
                  entropy: Entropy | None = None,
                  key_generator: KeyGenerator | None = None,
                  time_travel: bool = False, keys: CAKeyStore | None = None) -> Home:
        """A home with nothing on disk: an in-memory store, keys held in memory (tests), or
        in ``keys``, another CA key store.

        ``time_travel`` lets the clock go back on purpose: times are recorded as the clock
        gives them, and CRLs may be older than the last one (see
        :meth:`pki.store.StoreTransaction.event_time`)."""
        from .hierarchy import CASettings, RootSettings
        from .keys.castore import MemoryCAKeyStore
        from .store import open_store

        store = open_store("sqlite://:memory:", time_order=not time_travel)
        home = cls(MEMORY_PATH, store, keys or MemoryCAKeyStore(key_generator=key_generator),
                   clock=clock, entropy=entropy, key_generator=key_generator)
        home._populate(root=root or RootSettings(), ca=ca or CASettings(),
                       base_url=base_url.rstrip("/"), encrypted=False, time_travel=time_travel)
        return home

    def _populate(self, *, root: RootSettings, ca: CASettings, base_url: str,
                  encrypted: bool, time_travel: bool = False) -> None:
        from .hierarchy import add_ca, create_root

        with self.store.transaction() as tx:
            tx.set_meta("keys_encrypted", "1" if encrypted else "0")
            tx.set_meta("base_url", base_url)
            if time_travel:
                tx.set_meta(TIME_TRAVEL_META, "1")
        record = create_root(self.store, self.keys, root, base_url=base_url,
                             clock=self.clock, entropy=self.entropy)
        self._export_ca(record)
        self._export_ca(add_ca(self.store, self.keys, ca, base_url=base_url, clock=self.clock,
                               entropy=self.entropy))

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock | None = None,
             entropy: Entropy | None = None, key_generator: KeyGenerator | None = None,
             passphrase: bytes | None = None, pin: PinSource = None) -> Home:
        """Open an existing home; :class:`HomeNotFoundError` or :class:`StoreError` if
        there is none or it is damaged. ``passphrase`` opens the CA keys of an encrypted
        home (else each method that needs a key takes it); ``pin`` logs in to the tokens
        holding CA keys (:attr:`pin`; nothing is asked of a token until a key is used)."""
        target = Path(path).absolute()
        url = _store_url_of(target)
        from .store import open_store  # once there is a home: see _store_url_of

        store = open_store(url)
        try:
            if store.get_meta("base_url") is None:
                raise StoreError(f"{_without_password(url)} is not a kpki store")
            if store.get_meta(TIME_TRAVEL_META) == "1":
                store.close()
                store = open_store(url, time_order=False)
        except BaseException:
            store.close()
            raise
        home = cls(target, store, None, clock=clock, entropy=entropy,
                   key_generator=key_generator)
        home._passphrase = passphrase
        home.pin = pin
        return home

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Home:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ---------------------------------------------------------------------

    @property
    def keys_encrypted(self) -> bool:
        return self.store.get_meta("keys_encrypted") == "1"

    @property
    def base_url(self) -> str:
        return self.store.get_meta("base_url") or DEFAULT_BASE_URL

    @property
    def time_travel(self) -> bool:
        """Whether this is a test home whose clock may go back (``kpki init
        --time-travel``, :meth:`in_memory` with ``time_travel``): times are recorded as the
        clock gives them and a CRL may be dated before the previous one. In any other
        home an event is never dated before the CA's previous one and a CRL older than the
        last is refused (:class:`pki.errors.ClockBehindError`)."""
        return self.store.get_meta(TIME_TRAVEL_META) == "1"

    @property
    def delta_crls(self) -> bool:
        """Whether full CRLs announce the delta CRLs (freshestCRL). Delta CRLs are made
        and served either way; announcing them is off by default because strict clients
        that fetch revocation data themselves but no deltas (pyhanko-certvalidator, Java)
        fail every check whose full CRL announces one (docs/lifecycle.md)."""
        from .publisher import DELTA_CRLS_META

        return self.store.get_meta(DELTA_CRLS_META) == "1"

    def set_delta_crls(self, announce: bool) -> None:
        """Turn the announcement of delta CRLs on or off, from the next full CRL on."""
        from .publisher import DELTA_CRLS_META
        from .store import AuditAction

        with self.store.transaction() as tx:
            tx.set_meta(DELTA_CRLS_META, "1" if announce else "0")
            tx.audit(AuditAction.CRL_DELTAS, at=self.clock.now(), detail={"announced": announce})

    def ca_dir(self, label: str) -> Path:
        return self.path / "cas" / label

    @property
    def publish_dir(self) -> Path:
        """Where CRLs are published; ``kpki serve`` serves what the publisher keeps in the
        store, the same bytes."""
        return self.path / "publish"

    @property
    def tsa_url(self) -> str:
        """Where ``kpki serve`` answers time-stamp requests (RFC 3161 over HTTP)."""
        return f"{self.base_url}/tsa"

    @property
    def vault_secret_path(self) -> Path:
        return self.path / "cloud" / "vault.secret"

    # -- CAs --------------------------------------------------------------------------

    def list_cas(self) -> list[CARecord]:
        return list(self.store.list_cas())

    def check_cloud_ca(self, label: str) -> CARecord:
        """CA ``label``, checked able to issue the cloud's financial certificates.

        Raises :class:`UnknownCAError` when there is no such CA, :class:`ProfileError` for
        a root (it issues CA certificates only) or a CA whose style has no financial policy
        (only yessign issues them)."""
        from .hierarchy import check_financial_ca

        return check_financial_ca(self.store.get_ca(label))

    def cloud_ca_label(self) -> str | None:
        """The first CA that can issue financial certificates (the cloud's default CA), or
        None when no CA of this home can."""
        from .hierarchy import financial_ca_label

        return financial_ca_label(self.store.list_cas())

    def default_ca_label(self) -> str:
        """The first licensed CA (the one ``init`` made)."""
        from .hierarchy import default_ca_label

        return default_ca_label(self.store.list_cas())

    def chain_of(self, label: str) -> tuple[x509.Certificate, ...]:
        """The certificates above ``label``, nearest first, ending at the root."""
        from .hierarchy import chain_of

        return chain_of(self.store, label)

    # -- CA keys ----------------------------------------------------------------------

    def keys_for(self, passphrase: bytes | None) -> CAKeyStore:
        """The key store opened with ``passphrase`` (None: as it is)."""
        from .keys.castore import FileCAKeyStore
        from .keys.pkcs11 import PerCAKeyStore

        if isinstance(self.keys, FileCAKeyStore):
            return self.keys.with_passphrase(passphrase)
        if isinstance(self.keys, PerCAKeyStore) and isinstance(self.keys.default,
                                                              FileCAKeyStore):
            return PerCAKeyStore(self.keys.default.with_passphrase(passphrase),
                                 self.keys.routes)
        return self.keys

    def use_passphrase(self, passphrase: bytes | None) -> None:
        """Give the CA passphrase once: later calls need not pass it. Tokens holding CA
        keys are reached and logged in to now (a long-running process fails at start-up,
        not at its first request: :class:`pki.errors.HSMError`,
        :class:`pki.errors.WrongPasswordError`)."""
        from .keys.pkcs11 import PerCAKeyStore, PKCS11CAKeyStore

        self.keys = self.keys_for(passphrase)
        keys = self.keys
        for store in (keys.default, *keys.routes.values()) if isinstance(
                keys, PerCAKeyStore) else (keys,):
            if isinstance(store, PKCS11CAKeyStore):
                store.check()

    def unlock(self, passphrase: bytes | None, *, keys_from: Home | None = None) -> None:
        """Load every CA key now and keep it, so later work does not decrypt it again.

        A long-running process calls this once; each key file costs a full PBKDF2 run to
        open. ``keys_from`` shares the key store of another unlocked handle on the same
        home instead of opening the files again.
        """
        from .keys.castore import FileCAKeyStore, KeyLabel
        from .keys.pkcs11 import PerCAKeyStore

        if keys_from is not None:
            self.keys = keys_from.keys
            return
        keys = self.keys_for(passphrase)
        files = keys.default if isinstance(keys, PerCAKeyStore) else keys
        if isinstance(files, FileCAKeyStore):
            files.unlock([KeyLabel.of_ca(r.label) for r in self.store.list_cas()
                          if not isinstance(keys, PerCAKeyStore) or r.label not in keys.routes])
        self.keys = keys

    def load_ca_key(self, label: str, passphrase: bytes | None) -> CAKey:
        """The CA's private key; :class:`WrongPasswordError` if the passphrase fails."""
        from .keys.castore import KeyLabel

        self.store.get_ca(label)
        return self.keys_for(passphrase).load(KeyLabel.of_ca(label))

    def authority(self, label: str | None = None, *, passphrase: bytes | None = None
                  ) -> CertificateAuthority:
        """A :class:`CertificateAuthority` ready to issue from the licensed CA ``label``."""
        from .authority import CertificateAuthority

        label = label or self.default_ca_label()
        record = self.store.get_ca(label)
        if record.is_root:
            raise ProfileError(f"{label!r} is the root; it issues only CA certificates")
        key = self.load_ca_key(label, passphrase)
        return CertificateAuthority(record, key, store=self.store, chain=self.chain_of(label),
                                    clock=self.clock, entropy=self.entropy,
                                    key_generator=self.key_generator)

    def add_ca(self, settings: CASettings, *, passphrase: bytes | None,
               ca_keys: str | None = None) -> CARecord:
        """Add a licensed CA under the root, signed with the root key
        (:func:`pki.hierarchy.add_ca`). ``ca_keys``, a PKCS #11 URI, puts the CA's keys in
        that token (logging in with :attr:`pin`), recorded as the CA's ``ca_keys:<label>``
        setting; the token is reached and the PIN checked before anything is written, and
        a failure leaves neither the setting nor a key in the token."""
        from .hierarchy import add_ca, check_label
        from .keys.pkcs11 import PKCS11CAKeyStore

        keys = self.keys_for(passphrase)
        if ca_keys is not None:
            hsm = PKCS11CAKeyStore(ca_keys, pin=self.pin)
            label = check_label(settings.label)
            if any(r.label == label for r in self.store.list_cas()):
                raise ProfileError(f"a CA labelled {label!r} exists already")
            hsm.check()
            self.pin = hsm.pin  # asked once
            self._forget_leftovers(label)
            keys = _routed(keys, label, hsm)
            with self.store.transaction() as tx:  # first: a key is never unknown to the home
                tx.set_meta(f"{CA_KEYS_META}:{label}", str(hsm.uri))
            try:
                record = add_ca(self.store, keys, settings, base_url=self.base_url,
                                clock=self.clock, entropy=self.entropy)
            except BaseException:
                with self.store.transaction() as tx:
                    tx.set_meta(f"{CA_KEYS_META}:{label}", "")
                _forget_keys(hsm)
                raise
            self.keys = _routed(self.keys, label, hsm)
        else:
            record = add_ca(self.store, keys, settings, base_url=self.base_url,
                            clock=self.clock, entropy=self.entropy)
        self._export_ca(record)
        return record

    def _forget_leftovers(self, label: str) -> None:
        """Destroy the keys of CA ``label`` that a ``ca add --ca-keys`` killed before it
        recorded the CA left in its token: the setting naming the token is written before
        any key is made, so a setting without a CA marks them."""
        from .keys.castore import KeyLabel
        from .keys.pkcs11 import PKCS11CAKeyStore

        previous = self.store.get_meta(f"{CA_KEYS_META}:{label}")
        if previous:
            leftovers = PKCS11CAKeyStore(previous, pin=self.pin)
            for key_label in (KeyLabel.ocsp(label), KeyLabel.of_ca(label)):
                leftovers.delete(key_label)

    @property
    def ca_keys(self) -> str | None:
        """The PKCS #11 URI of the token holding this home's CA keys (``kpki init
        --ca-keys``), or None when they are files (or in memory)."""
        return self.store.get_meta(CA_KEYS_META) or None

    def set_crl_shards(self, label: str, shards: int) -> CARecord:
        """Spread the certificates CA ``label`` issues from now on over ``shards`` CRLs
        (:func:`pki.hierarchy.set_crl_shards`); the publisher publishes them from its next
        round."""
        from .hierarchy import set_crl_shards

        return set_crl_shards(self.store, label, shards, at=self.clock.now())

    def _export_ca(self, record: CARecord) -> None:
        """A copy of the CA's certificate beside its key, for users (the store holds it)."""
        from cryptography.hazmat.primitives import serialization

        from .fsutil import PRIVATE_DIR_MODE, atomic_write, make_dirs

        if self.on_disk:
            make_dirs(self.ca_dir(record.label), mode=PRIVATE_DIR_MODE)  # keys in a token
            atomic_write(self.ca_dir(record.label) / "cert.pem",
                         record.certificate.public_bytes(serialization.Encoding.PEM))

    # -- publishing -------------------------------------------------------------------

    def publisher_lease(self, *, poll_seconds: float = 1.0) -> Lease:
        """The lease a publisher of this home holds while it publishes
        (:mod:`pki.leadership`): a home in memory has one process; an SQLite home's is a
        lock file in the home; a store that names its own (PostgreSQL's advisory lock) gives
        it, with the server ending a frozen holder's session after three missed rounds."""
        from .leadership import FileLease, SoleLease

        if not self.on_disk:
            return SoleLease()
        own = getattr(self.store, "publisher_lease", None)
        if own is not None:
            lease: Lease = own(idle_timeout=max(10.0, 3 * poll_seconds))
            return lease
        return FileLease(self.path / PUBLISHER_LOCK_FILE)

    def publisher(self, *, passphrase: bytes | None = None) -> Publisher:
        """The :class:`pki.publisher.Publisher` of this home (one per passphrase; it follows
        this home's clock and entropy)."""
        publisher = self._publishers.get(passphrase)
        if publisher is None:
            from .hierarchy import ROOT_LABEL
            from .publisher import Publisher

            publisher = self._publishers[passphrase] = Publisher(
                self.store, self.keys_for(passphrase), clock=self.clock,
                entropy=self.entropy, publish_dir=self.publish_dir if self.on_disk else None,
                tsa_certificate_file=(self.ca_dir(ROOT_LABEL) / "tsa-cert.pem"
                                      if self.on_disk else None))
        publisher.clock, publisher.entropy = self.clock, self.entropy
        return publisher

    def publish_crls(self, *, passphrase: bytes | None, delta: bool = False,
                     labels: list[str] | None = None) -> list[tuple[IssuedCRL, Path | None]]:
        """Issue and publish the next CRL of each CA (the root's included): see
        :meth:`pki.publisher.Publisher.publish`. Returns each CRL with the path of its DER
        file, or None where it was not written: a memory home, or another publisher wrote
        a newer CRL there meanwhile (see :func:`pki.revocation.crl.write_crl`).
        """
        done = self.publisher(passphrase=passphrase).publish(delta=delta, labels=labels)
        return [(p.crl, p.path) for p in done]

    def ocsp_responder(self, label: str, *, passphrase: bytes | None) -> OCSPResponder:
        """The OCSP responder of CA ``label``, with its delegated signing certificate.

        This writes when due: the publisher makes a new signer when there is none or its
        certificate ends within a week (:func:`pki.revocation.ocsp.ensure_signer`). A server
        reads signers only (:mod:`pki.web`)."""
        record = self.store.get_ca(label)
        signer, key = self.publisher(passphrase=passphrase).ensure_ocsp_signer(label)
        responder = self._responders.get(label)
        if responder is None or responder.signer.serial_number != signer.serial:
            from .revocation.ocsp import OCSPResponder

            responder = self._responders[label] = OCSPResponder(
                record, signer.certificate, key, self.store, self.clock)
        return responder

    # -- the TSA ----------------------------------------------------------------------

    def tsa_certificate(self) -> x509.Certificate | None:
        """The TSA's current certificate without opening its key; None before there is one."""
        from .timestamp.management import tsa_certificate

        return tsa_certificate(self.store)

    def tsa(self, *, passphrase: bytes | None) -> TimeStampAuthority:
        """The home's time-stamping authority, whose certificate the root issues, made or
        renewed when due (:func:`pki.timestamp.management.ensure_tsa`; ``passphrase``
        opens the keys). Its certificate is one of the root's in the store, so
        ``kpki cert revoke --ca root`` revokes it and the root's CRL lists it."""
        return self.publisher(passphrase=passphrase).ensure_tsa()

    # -- the cloud --------------------------------------------------------------------

    def cloud_factory(self, *, passphrase: bytes | None, ca: str | None = None,
                      create_secret: bool = True, kdf: KDFParams | None = None
                      ) -> Callable[[], Cloud]:
        """A function that makes a :class:`pki.cloud.service.Cloud` over this home for the
        calling thread (its own store connection; the CA key is loaded once, here).

        Raises :class:`VaultError` when the vault holds sealed keys and the vault secret
        is missing or is not the one they were sealed under (a new secret is made only
        for an empty vault). PIN checks left in flight by processes that died are
        forgotten here (they were never charged)."""
        from .authority import CertificateAuthority
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


def _key_store(store: Store, files: FileCAKeyStore, *, pin: PinSource) -> CAKeyStore:
    """The CA key store a home's settings name: its key files, or the token of
    :data:`CA_KEYS_META`; with the CAs whose keys ``kpki ca add --ca-keys`` put elsewhere."""
    from .keys.pkcs11 import PerCAKeyStore, PKCS11CAKeyStore

    uri = store.get_meta(CA_KEYS_META)
    default: CAKeyStore = files if not uri else PKCS11CAKeyStore(uri, pin=pin)
    tokens: dict[str, PKCS11CAKeyStore] = {}
    routes: dict[str, CAKeyStore] = {}
    for record in store.list_cas():
        own = store.get_meta(f"{CA_KEYS_META}:{record.label}")
        if own:
            routes[record.label] = tokens.setdefault(own, PKCS11CAKeyStore(own, pin=pin))
    return PerCAKeyStore(default, routes) if routes else default


def _routed(keys: CAKeyStore, label: str, store: CAKeyStore) -> PerCAKeyStore:
    """``keys`` with CA ``label``'s keys in ``store``."""
    from .keys.pkcs11 import PerCAKeyStore

    if isinstance(keys, PerCAKeyStore):
        return PerCAKeyStore(keys.default, {**keys.routes, label: store})
    return PerCAKeyStore(keys, {label: store})


def _forget_keys(hsm: PKCS11CAKeyStore) -> None:
    """Destroy the keys ``hsm`` made (a creation that failed), as far as the token lets."""
    for label in reversed(hsm.generated):
        # a token gone away: the error that stopped the creation is the one to show
        with contextlib.suppress(PKIError):
            hsm.delete(label)


def check_store_url(url: str) -> None:
    """Raise :class:`StoreURLError` for a home store URL kpki does not keep: not
    PostgreSQL's (SQLite is the home's own file, without a URL), or one carrying a password
    (it would sit in ``store.url`` and on the command line)."""
    if not url.startswith(POSTGRESQL_SCHEMES):
        raise StoreURLError(
            f"--store takes a postgresql://user@host/database URL, not {url!r} (without "
            "--store the home keeps its store in kpki.db)", url=_without_password(url))
    parts = urlsplit(url)
    if parts.password or "password" in parse_qs(parts.query):
        raise StoreURLError(
            f"the store URL {_without_password(url)} carries a password: give it through "
            "PGPASSWORD, a password file (PGPASSFILE, ~/.pgpass) or a service file "
            "(PGSERVICE) instead", url=_without_password(url))


def _without_password(url: str) -> str:
    """``url`` with its password, in the user part or the query, replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = user.partition(":")[0] + ":***@" + host
    query = urlencode([(k, "***" if k == "password" else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _create_store(folder: Path, url: str | None) -> Store:
    """The new home's store: ``kpki.db`` in ``folder``, or the empty PostgreSQL database
    at ``url``, then named in ``folder/store.url``."""
    from .fsutil import atomic_write
    from .store import open_store, sqlite_url

    if url is None:
        # Made 0600 before SQLite opens it (its -wal and -shm files take the same mode),
        # whatever the umask.
        os.close(os.open(folder / DB_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(folder / DB_NAME, 0o600)
        return open_store(sqlite_url(folder / DB_NAME), create=True)
    store = open_store(url, create=True)
    try:
        if store.get_meta("base_url") is not None or any(True for _ in store.list_cas()):
            shown = _without_password(url)
            raise HomeExistsError(
                f"the store {shown} holds a kpki home already; a home is created on an "
                "empty database (a replica uses a copy of that home's folder)", path=shown)
        atomic_write(folder / STORE_URL_FILE, url.encode() + b"\n", mode=0o600)
    except BaseException:
        store.close()
        raise
    return store


def _store_url_of(home: Path) -> str:
    """The URL of the store of the home at ``home``: the one ``store.url`` names, else its
    ``kpki.db``. Raises :class:`HomeNotFoundError` when there is neither (before the store
    is imported: ``kpki verify`` outside a home never pays for it)."""
    named = home / STORE_URL_FILE
    if named.is_file():
        try:
            return named.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"cannot read {named}: {exc}") from None
    if not (home / DB_NAME).is_file():
        raise HomeNotFoundError(
            f"no kpki home at {home} (run 'kpki init' to create one)", path=str(home))
    from .store import sqlite_url

    return sqlite_url(home / DB_NAME)
