"""Certificate authorities: the KISA-style root, licensed CAs, and subscriber issuance.

:class:`CertificateAuthority` issues joint, financial and private certificates in the profile of
korean-pki.md section 3. Building and signing a certificate, advancing the CA's CN
sequence, recording the certificate and its audit row all happen in one store transaction,
so concurrent issuers never share a serial or a sequence number and a failure leaves nothing.
A delivery (:mod:`pki.delivery`) stages the holder's files inside that transaction and puts
them in place after it commits, so no certificate exists on disk that the store lacks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from . import oids
from .clock import Clock, SystemClock, kst_day_start, kst_today, validity_for
from .delivery import Delivery
from .entropy import Entropy, SystemEntropy, check_serial_bits, random_serial
from .errors import (
    AlreadyRevokedError,
    CertificateExpiredError,
    CertificateNotFoundError,
    CSRError,
    DeliveryError,
    FolderExistsError,
    LifecycleError,
    ProfileError,
    RenewalWindowError,
    SerialInUseError,
    StoreError,
    ValidityError,
)
from .extensions import certificate_policies, identify_data_san
from .keys.castore import CAKey
from .keys.generate import KeyGenerator, RSAKeyGenerator, check_subscriber_key
from .lifecycle import find_certificate
from .names import build_name, check_common_name, check_holder_name, npki_folder_name
from .profiles import (
    DEFAULT_RA,
    FINANCIAL_PROFILES,
    JOINT_PROFILES,
    PRIVATE_PROFILE,
    CAProfile,
    CAStyle,
    Family,
    FinancialKind,
    JointPolicy,
    Profile,
    RegistrationAuthority,
    get_profile,
    get_style,
    key_management_profile,
)
from .revocation.shards import shard_of, shard_url
from .rrn import RRN
from .store import (
    AuditAction,
    CARecord,
    CertificateRecord,
    CertStatus,
    KeyOrigin,
    Store,
    StoreTransaction,
)
from .vid import R_LENGTH, VIDError, encode_identify_data

__all__ = [
    "CertificateAuthority",
    "Deliver",
    "IssueRequest",
    "IssueStep",
    "IssuedCertificate",
    "build_ca_certificate",
    "check_subscriber_names",
    "load_csr",
]

SUBSCRIBER_KEY_BITS = 2048
_SERIAL_ATTEMPTS = 8
_MAX_SEQUENCE_BLOCK = 32


@dataclass(frozen=True)
class IssuedCertificate:
    """What issuance returns: the certificate, its key when kpki generated it, and R.

    R is the 20-byte random value behind the VID; the store never keeps it (it belongs in
    the holder's key file), so this is the only place the caller gets it.
    """

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey | None
    r: bytes = field(repr=False)
    profile: Profile
    ca: str
    chain: tuple[x509.Certificate, ...]
    """The issuing CA's certificate, then its issuers up to the root."""
    key_management: IssuedCertificate | None = None
    """The key-management certificate (kmCert) issued with it, if asked for."""

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def npki_folder_name(self) -> str:
        return npki_folder_name(self.certificate.subject)

    @property
    def organization(self) -> str:
        attrs = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(attrs[0].value)


class IssueStep(enum.Enum):
    """The steps :meth:`CertificateAuthority.issue_many` reports progress of."""

    PREPARE = "prepare"
    """Checked, key generated (before the transaction)."""
    ISSUE = "issue"
    """Signed, and its delivery staged if it has one (inside the transaction, which
    records the whole batch in a few statements once every certificate is signed)."""
    DELIVER = "deliver"
    """Its files put in place (after the commit)."""


Deliver = Delivery | Callable[[IssuedCertificate], object]
"""What ``deliver=`` takes: a :class:`pki.delivery.Delivery` (an
:class:`pki.delivery.NPKIDelivery`), or a function called with the result inside the
transaction, before it commits (if it raises, nothing is recorded)."""


def _common_name(style: CAStyle, *, name: str, alias: str, ra: RegistrationAuthority,
                 day: dt.date, seq: int) -> str:
    return style.cn_template.format(name=name, alias=alias, institution=ra.institution,
                                    branch=ra.branch, date=_template_day(day), seq=seq)


class _TemplateDay:
    """A day as CN templates format it (``{date:%y%m%d}``): the same text as the ``date``,
    each format made once (``strftime`` took half the time of naming a certificate)."""

    __slots__ = ("_day", "_texts")

    def __init__(self, day: dt.date) -> None:
        self._day = day
        self._texts: dict[str, str] = {}

    def __format__(self, spec: str) -> str:
        text = self._texts.get(spec)
        if text is None:
            text = self._texts[spec] = format(self._day, spec)
        return text


@functools.lru_cache(maxsize=64)
def _template_day(day: dt.date) -> _TemplateDay:
    return _TemplateDay(day)


def check_subscriber_names(style: CAStyle | str, *, name: str, alias: str = "",
                           ra: RegistrationAuthority | str = DEFAULT_RA) -> tuple[str, str]:
    """Check a holder's name and alias for a CA of ``style``; return them NFC-normalised.

    Besides :func:`pki.names.check_holder_name`, the longest CN the style's template can
    make of them (the largest sequence number) must fit in a certificate
    (:data:`pki.names.MAX_CN_BYTES` UTF-8 bytes). Raises :class:`InvalidNameError` or,
    for a bad ``ra``, :class:`ProfileError`.
    """
    style = get_style(style) if isinstance(style, str) else style
    name = check_holder_name(name)
    alias = check_holder_name(alias, field="alias") if alias else ""
    ra = ra if isinstance(ra, RegistrationAuthority) else RegistrationAuthority.parse(ra)
    longest = _common_name(style, name=name, alias=alias, ra=ra, day=dt.date(2000, 1, 1),
                           seq=10 ** style.cn_sequence_digits - 1)
    check_common_name(longest, name=name)
    return name, alias


def load_csr(data: bytes | x509.CertificateSigningRequest) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR and check its self-signature; :class:`CSRError` otherwise."""
    if isinstance(data, x509.CertificateSigningRequest):
        csr = data
    else:
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                csr = x509.load_pem_x509_csr(data)
            else:
                csr = x509.load_der_x509_csr(data)
        except ValueError:
            raise CSRError("not a certificate signing request: the DER or PEM does not "
                           "parse") from None
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # pyca raises for unsupported algorithms
        raise CSRError(f"the CSR's signature cannot be checked: {exc}") from None
    if not valid:
        raise CSRError("the CSR's signature does not verify")
    return csr


@functools.lru_cache(maxsize=64)
def _day_start(day: dt.date) -> dt.datetime:
    """:func:`pki.clock.kst_day_start`, made once a day (every certificate of a day starts
    then)."""
    return kst_day_start(day)


@functools.lru_cache(maxsize=64)
def _term_end(day: dt.date, years: int) -> dt.datetime:
    """notAfter of a ``years`` term from ``day``; past year 9999 (where :mod:`datetime`
    ends) the last second it has, which is past every CA's notAfter as well."""
    try:
        return validity_for(day, years)[1]
    except (ValueError, OverflowError):
        return dt.datetime.max.replace(microsecond=0, tzinfo=dt.UTC)


def _ski(public_key: PublicKeyTypes) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)  # type: ignore[arg-type]


def build_ca_certificate(
    *,
    subject: x509.Name,
    public_key: PublicKeyTypes,
    issuer: x509.Certificate | None,
    issuer_key: CAKey,
    profile: CAProfile,
    serial: int,
    not_before: dt.datetime,
    cps_url: str | None,
    crl_url: str | None,
) -> x509.Certificate:
    """A root (``issuer=None``: self-signed) or licensed-CA certificate (section 2).

    Extensions: AKI (keyid, plus the issuer's issuer and serial for a licensed CA), SKI,
    keyUsage keyCertSign+cRLSign, certificatePolicies anyPolicy, basicConstraints,
    policyConstraints requireExplicitPolicy 0 (all critical but the identifiers), and the
    issuer's CRL distribution point for a licensed CA.
    """
    valid_from, valid_to = validity_for(kst_today(not_before), profile.term_years)
    issuer_name = subject if issuer is None else issuer.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(_ski(public_key).digest, None, None), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(
                _ski(issuer.public_key()).digest,
                [x509.DirectoryName(issuer.issuer)], issuer.serial_number,
            ), critical=False)
    builder = (
        builder.add_extension(_ski(public_key), critical=False)
        .add_extension(profile.key_usage, critical=True)
        .add_extension(certificate_policies(oids.ANY_POLICY, notice=profile.notice,
                                            cps_url=cps_url), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=profile.path_length),
                       critical=True)
        .add_extension(x509.PolicyConstraints(require_explicit_policy=0,
                                              inhibit_policy_mapping=None), critical=True)
    )
    if issuer is not None and crl_url:
        builder = builder.add_extension(_crl_dp(crl_url), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


_AnyExtension = x509.Extension[x509.ExtensionType]


def _extension(value: x509.ExtensionType, *, critical: bool) -> _AnyExtension:
    return x509.Extension(value.oid, critical, value)


@functools.lru_cache(maxsize=256)
def _naive_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as the naive UTC time pyca's builder keeps (kept: a day's certificates
    share their times, and the two conversions cost a tenth of preparing one)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([
        x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    ])


class CertificateAuthority:
    """A licensed CA that issues subscriber certificates into a store.

    ``key`` is the CA's key as its key store gives it (:mod:`pki.keys.castore`): anything
    with pyca's RSA private-key interface, used only to sign. ``key_generator``, ``clock``
    and ``entropy`` are injected: tests freeze the clock, draw keys from a cache and make
    serials and R reproducible.
    """

    def __init__(
        self,
        record: CARecord,
        key: CAKey,
        *,
        store: Store,
        chain: tuple[x509.Certificate, ...] = (),
        clock: Clock | None = None,
        entropy: Entropy | None = None,
        key_generator: KeyGenerator | None = None,
    ) -> None:
        if record.is_root:
            raise ProfileError(f"{record.label!r} is a root CA; roots issue only CA certificates")
        self.record = record
        self.style: CAStyle = get_style(record.style)
        self._key = key
        self._store = store
        self.chain = chain
        self.clock: Clock = clock or SystemClock()
        self.entropy: Entropy = entropy or SystemEntropy()
        self.key_generator: KeyGenerator = key_generator or RSAKeyGenerator()
        cert = record.certificate
        if cert.public_key() != key.public_key():
            raise ProfileError(f"the key of CA {record.label!r} does not match its certificate")
        # Parts that are the same in every certificate this CA issues.
        self._aki = x509.AuthorityKeyIdentifier(
            _ski(cert.public_key()).digest, [x509.DirectoryName(cert.issuer)],
            cert.serial_number)
        self._crl_dp = _crl_dp(record.crl_url)
        self._shard_dps: dict[int, x509.CRLDistributionPoints] = {}
        self._aia = (x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier(record.ocsp_url))]) if record.ocsp_url else None)
        # The same extensions as Extension objects, for _builder.
        self._aki_extension = _extension(self._aki, critical=False)
        self._unsharded_tail = [_extension(self._crl_dp, critical=False)]
        if self._aia is not None:
            self._unsharded_tail.append(_extension(self._aia, critical=False))
        self._issuer_name = cert.subject
        self._chain_out = (cert, *chain)
        self._profile_extensions: dict[str, tuple[_AnyExtension, _AnyExtension]] = {}
        """Each profile's keyUsage and certificatePolicies, as the Extension objects the
        builder takes (made once: pyca checks each Extension it is given)."""
        self._subject_prefixes: dict[tuple[str, str], tuple[list[x509.RelativeDistinguishedName],
                                                            str]] = {}
        self._ca_validity = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        self._block_next = self._block_end = 0
        self._block_size = 1
        self._block_uncommitted = False
        self._last_sequence = 0

    @property
    def label(self) -> str:
        return self.record.label

    @property
    def store(self) -> Store:
        """The store this CA records into; whoever joins an issuance's unit of work (a
        delivery, the cloud's vault) writes through the same store."""
        return self._store

    @property
    def certificate(self) -> x509.Certificate:
        return self.record.certificate

    def _next_sequence(self, tx: StoreTransaction) -> int:
        """The next CN sequence number, from a block reserved in the store.

        Blocks grow 1, 2, 4 ... 32, so one-shot issuers (each CLI run) get consecutive
        numbers while a bulk issuer rewrites the CA row only once per 32 certificates.
        Concurrent issuers get disjoint blocks: numbers are unique per CA, not gap-free.
        """
        if self._block_next >= self._block_end:
            size = min(self._block_size, _MAX_SEQUENCE_BLOCK)
            first = tx.reserve_cn_sequence(self.label, size)
            self._block_next, self._block_end = first, first + size
            self._block_size = size * 2
            self._block_uncommitted = True
        number = self._last_sequence = self._block_next
        self._block_next += 1
        return number

    def _burn_sequence(self, number: int) -> None:
        """Use up CN sequence numbers through ``number`` after an issuance was refused for
        a folder that CN names, so a retry draws a fresh CN (numbers are unique per CA,
        not gap-free)."""
        with self._store.transaction() as tx:
            first = tx.reserve_cn_sequence(self.label, 1)
            if first < number:
                tx.reserve_cn_sequence(self.label, number - first)

    def _commit(self, work: Callable[[StoreTransaction], IssuedCertificate],
                deliver: Deliver | None, now: dt.datetime) -> IssuedCertificate:
        """Run ``work`` in one transaction with the delivery staged inside it and
        published after the commit."""
        # Delivery is a runtime-checkable protocol, whose isinstance costs as much as the
        # rest of the Python of an issuance: asked only when there is a delivery.
        staged = call = None
        if deliver is not None:
            if isinstance(deliver, Delivery):
                staged = deliver
            else:
                call = deliver
        try:
            with self._transaction() as tx:
                issued = work(tx)
                if staged is not None:
                    staged.stage(self._store, tx, issued, at=now)
                elif call is not None:
                    call(issued)
        except BaseException as exc:
            if staged is not None:
                staged.abort()
            if isinstance(exc, FolderExistsError):
                self._burn_sequence(self._last_sequence)
            raise
        if staged is not None:
            staged.publish(self._store, at=now)
        return issued

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[StoreTransaction]:
        """A store transaction that also forgets a sequence block reserved in it if it
        rolls back (the store forgets the reservation too, so another issuer may get it)."""
        self._block_uncommitted = False
        try:
            with self._store.transaction() as tx:
                yield tx
        except BaseException:
            if self._block_uncommitted:
                self._block_next = self._block_end = 0
            raise
        finally:
            self._block_uncommitted = False

    def _subject_prefix(self, ou_marker: str, unit: str
                        ) -> tuple[list[x509.RelativeDistinguishedName], str]:
        """C, O, OU, OU of subscriber names (the same for every holder), and its text."""
        key = (ou_marker, unit)
        cached = self._subject_prefixes.get(key)
        if cached is None:
            template = build_name(country=self.style.country,
                                  organization=self.style.organization,
                                  units=(ou_marker, unit), common_name="-")
            rdns = list(template.rdns[:-1])
            text = x509.Name(rdns).rfc4514_string()
            cached = self._subject_prefixes[key] = (rdns, text)
        return cached

    # -- issuance ---------------------------------------------------------------------

    def issue_joint(
        self,
        *,
        name: str,
        rrn: RRN | str,
        ra: RegistrationAuthority | str = DEFAULT_RA,
        policy: JointPolicy = JointPolicy.GENERAL,
        alias: str = "",
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKeyTypes | None = None,
        with_km: bool = False,
        km_public_key: PublicKeyTypes | None = None,
        deliver: Deliver | None = None,
        serial_bits: int | None = None,
    ) -> IssuedCertificate:
        """A joint certificate (공동인증서), one year, general-purpose or banking policy.

        ``with_km`` also issues the key-management certificate (keyUsage keyEncipherment,
        its own key and R, the same subject) in the same transaction, as
        ``.key_management``; its key is generated unless ``km_public_key`` is given.
        """
        return self.issue(JOINT_PROFILES[JointPolicy(policy)], name=name, rrn=rrn, ra=ra,
                          alias=alias, csr=csr, public_key=public_key, with_km=with_km,
                          km_public_key=km_public_key, deliver=deliver,
                          serial_bits=serial_bits)

    def issue_financial(
        self,
        *,
        name: str,
        rrn: RRN | str,
        ra: RegistrationAuthority | str = DEFAULT_RA,
        kind: FinancialKind = FinancialKind.PERSONAL,
        alias: str = "",
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKeyTypes | None = None,
        deliver: Deliver | None = None,
        serial_bits: int | None = None,
    ) -> IssuedCertificate:
        """A financial certificate (금융인증서), three years, personal or business."""
        return self.issue(FINANCIAL_PROFILES[FinancialKind(kind)], name=name, rrn=rrn, ra=ra,
                          alias=alias, csr=csr, public_key=public_key, deliver=deliver,
                          serial_bits=serial_bits)

    def issue_private(
        self,
        *,
        name: str,
        rrn: RRN | str,
        ra: RegistrationAuthority | str = DEFAULT_RA,
        alias: str = "",
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKeyTypes | None = None,
        deliver: Deliver | None = None,
        serial_bits: int | None = None,
    ) -> IssuedCertificate:
        """A private certificate (사설인증서, modelled on KB's mobile certificate): two
        years, renewable after one year of use, the joint certificate's shape under kpki's
        own policy (:data:`pki.profiles.PRIVATE_PROFILE`)."""
        return self.issue(PRIVATE_PROFILE, name=name, rrn=rrn, ra=ra, alias=alias, csr=csr,
                          public_key=public_key, deliver=deliver, serial_bits=serial_bits)

    def issue(
        self,
        profile: Profile,
        *,
        name: str,
        rrn: RRN | str,
        ra: RegistrationAuthority | str = DEFAULT_RA,
        alias: str = "",
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKeyTypes | None = None,
        with_km: bool = False,
        km_public_key: PublicKeyTypes | None = None,
        deliver: Deliver | None = None,
        serial_bits: int | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        r: bytes | None = None,
    ) -> IssuedCertificate:
        """Issue a subscriber certificate of ``profile`` in one store transaction.

        With ``csr`` (which must verify) or ``public_key`` no key is generated and the
        result's ``private_key`` is ``None``. Raises :class:`InvalidRRNError`,
        :class:`InvalidNameError`, :class:`ProfileError`, :class:`CSRError` or
        :class:`UnsupportedKeyError` before anything is written.

        The serial is random and unique at this CA (drawn again if the store has it),
        of the CA style's length (63 bits: it fits in a signed 64-bit integer) unless
        ``serial_bits`` asks for another (32 to 159).

        ``deliver`` (:data:`Deliver`) writes the holder's files: an
        :class:`pki.delivery.NPKIDelivery` stages them inside the transaction and puts them
        in place after the commit; if staging fails (:class:`FolderExistsError`, say),
        nothing is recorded. A refusal because the folder exists uses up the CN sequence
        number, so a retry gets a new CN.

        ``not_before`` and ``not_after`` override the profile's validity (as given: the
        caller aligns them to KST days, :func:`pki.clock.requested_validity`); a certificate
        already expired may be issued, one outside its CA's validity may not
        (:class:`ValidityError`).

        ``r`` is the holder's R when the holder chose it (a device that seals its key and
        R before asking, :mod:`pki.private`); else the CA draws it. A value that is not
        :data:`pki.vid.R_LENGTH` bytes is :class:`pki.vid.VIDError` (a ``ValueError``).
        """
        request = IssueRequest(profile, name=name, rrn=rrn, ra=ra, alias=alias, csr=csr,
                               public_key=public_key, with_km=with_km,
                               km_public_key=km_public_key, serial_bits=serial_bits,
                               not_before=not_before, not_after=not_after, r=r)
        now = self.clock.now()
        prepared = self._prepare(request, now)
        return self._commit(lambda tx: self._write(tx, prepared), deliver, now)

    def issue_many(self, requests: Iterable[IssueRequest], *,
                   deliver: Sequence[Deliver | None] | None = None,
                   progress: Callable[[IssueStep, int, int], object] | None = None,
                   ) -> list[IssuedCertificate]:
        """Issue several certificates, all or nothing, in one store transaction.

        Every request is validated (and its key generated) before the transaction starts;
        if any is refused, or anything fails while writing, no certificate is recorded.
        For scripts that need many certificates at once: it saves a commit per certificate,
        and records them all in a few statements (on a database server a round trip per
        certificate would cost more than the rest of the store's work).

        ``deliver`` gives each request its delivery, in order (``None``: none), as
        ``deliver=`` does for :meth:`issue`: all are staged inside the one transaction and
        published after it commits; if one cannot be staged (a folder in the way:
        :class:`FolderExistsError`), nothing is recorded and every staging is undone. A
        delivery that fails after the commit does not stop the others; the first
        :class:`DeliveryError` is raised once all were tried. ``progress(step, done,
        total)`` is called after each certificate of each :class:`IssueStep`.
        """
        requests = list(requests)
        deliveries = [None] * len(requests) if deliver is None else list(deliver)
        if len(deliveries) != len(requests):
            raise ValueError("give one delivery (or None) per request")

        def tick(step: IssueStep, done: int, total: int) -> None:
            if progress is not None:
                progress(step, done, total)

        now = self.clock.now()
        prepared = []
        for request in requests:
            prepared.append(self._prepare(request, now))
            tick(IssueStep.PREPARE, len(prepared), len(requests))
        staged: list[Delivery] = []
        delivering = any(d is not None for d in deliveries)

        def signed(done: int) -> None:
            if not delivering:  # else counted as each delivery is staged
                tick(IssueStep.ISSUE, done, len(requests))

        try:
            with self._transaction() as tx:
                issued = self._write_many(tx, prepared, signed)
                if delivering:
                    for done, (one, delivery) in enumerate(zip(issued, deliveries,
                                                               strict=True), 1):
                        if isinstance(delivery, Delivery):
                            staged.append(delivery)
                            delivery.stage(self._store, tx, one, at=now)
                        elif delivery is not None:
                            delivery(one)
                        tick(IssueStep.ISSUE, done, len(requests))
        except BaseException as exc:
            for delivery in staged:
                delivery.abort()
            if isinstance(exc, FolderExistsError):
                self._burn_sequence(self._last_sequence)
            raise
        failed: DeliveryError | None = None
        for done, delivery in enumerate(staged, 1):
            try:
                delivery.publish(self._store, at=now)
            except DeliveryError as exc:
                failed = failed or exc
            tick(IssueStep.DELIVER, done, len(staged))
        if failed is not None:
            raise failed
        return issued

    def renew(
        self,
        serial: int,
        *,
        rrn: RRN | str,
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKeyTypes | None = None,
        deliver: Deliver | None = None,
        serial_bits: int | None = None,
        r: bytes | None = None,
    ) -> IssuedCertificate:
        """Renew (갱신) a certificate of this CA: a new key and a certificate running one
        term on from the old notAfter; the old one stays valid to its end.

        Open from the profile's window (30 days for joint, a month for financial) before
        notAfter until notAfter; for a private certificate from a year of use on
        (:meth:`Profile.renewal_opens_at`). The store keeps no resident number, so the holder's
        ``rrn`` is needed for the new VID. Raises :class:`RenewalWindowError`,
        :class:`AlreadyRevokedError`, :class:`LifecycleError` or
        :class:`CertificateNotFoundError`.
        """
        now = self.clock.now()
        old = find_certificate(self._store, serial, ca=self.label)
        profile = get_profile(old.profile)
        opens_at = profile.renewal_opens_at(not_before=old.not_before,
                                            not_after=old.not_after)
        if now > old.not_after:
            raise RenewalWindowError(
                f"certificate {serial:X} expired on {old.not_after:%Y-%m-%d}: it can no "
                "longer be renewed; issue a new certificate", serial=serial,
                opens_at=opens_at, closes_at=old.not_after)
        if now < opens_at:
            raise RenewalWindowError(
                f"renewal of {serial:X} opens on {opens_at:%Y-%m-%d} "
                f"({profile.renewal_rule})", serial=serial,
                opens_at=opens_at, closes_at=old.not_after)
        request = self._follow_up(old, profile, rrn=rrn, csr=csr, public_key=public_key,
                                  not_after=validity_for(kst_today(old.not_after),
                                                         profile.term_years)[1],
                                  serial_bits=serial_bits, r=r)
        prepared = self._prepare(request, now)

        def work(tx: StoreTransaction) -> IssuedCertificate:
            current = self._check_follow_up(tx, old, allow_suspended=False)
            if self._store.renewals_of(self.label, serial):
                raise LifecycleError(f"certificate {serial:X} has been renewed already",
                                     serial=serial)
            issued = self._write(tx, prepared)
            tx.audit(AuditAction.CERTIFICATE_RENEWED, at=now, ca=self.label, serial=current.serial,
                     detail={"new_serial": format(issued.serial, "X")})
            return issued

        return self._commit(work, deliver, now)

    def reissue(
        self,
        serial: int,
        *,
        rrn: RRN | str,
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKeyTypes | None = None,
        deliver: Deliver | None = None,
        serial_bits: int | None = None,
        r: bytes | None = None,
    ) -> IssuedCertificate:
        """Reissue (재발급) after a lost key or forgotten password: the old certificate is
        revoked (superseded) and a new one with a new key keeps the old notAfter; one
        transaction."""
        now = self.clock.now()
        old = find_certificate(self._store, serial, ca=self.label)
        if old.is_expired(now):
            raise CertificateExpiredError(
                f"certificate {serial:X} expired on {old.not_after:%Y-%m-%d}; issue a new "
                "certificate", serial=serial)
        request = self._follow_up(old, get_profile(old.profile), rrn=rrn, csr=csr,
                                  public_key=public_key, not_after=old.not_after,
                                  serial_bits=serial_bits, r=r)
        prepared = self._prepare(request, now)

        def work(tx: StoreTransaction) -> IssuedCertificate:
            self._check_follow_up(tx, old, allow_suspended=True)
            tx.set_status(self.label, serial, status=CertStatus.REVOKED, at=now,
                          revoked_at=now, reason=x509.ReasonFlags.superseded,
                          invalidity_date=None)
            issued = self._write(tx, prepared)
            tx.audit(AuditAction.CERTIFICATE_REVOKED, at=now, ca=self.label, serial=serial,
                     detail={"reason": "superseded", "reissued_as": format(issued.serial, "X")})
            return issued

        return self._commit(work, deliver, now)

    def _follow_up(self, old: CertificateRecord, profile: Profile, *, rrn: RRN | str,
                   csr: bytes | x509.CertificateSigningRequest | None,
                   public_key: PublicKeyTypes | None, not_after: dt.datetime,
                   serial_bits: int | None, r: bytes | None = None) -> IssueRequest:
        ra = RegistrationAuthority.parse(old.ra) if old.ra else DEFAULT_RA
        return IssueRequest(profile, name=old.holder, rrn=rrn, ra=ra, alias=old.alias,
                            csr=csr, public_key=public_key, not_after=not_after,
                            replaces=old.serial, serial_bits=serial_bits, r=r)

    def _check_follow_up(self, tx: StoreTransaction, old: CertificateRecord, *,
                         allow_suspended: bool) -> CertificateRecord:
        current = tx.get_certificate(self.label, old.serial)
        if current is None:
            raise CertificateNotFoundError(old.serial, ca=self.label)
        if current.status is CertStatus.REVOKED:
            raise AlreadyRevokedError(f"certificate {old.serial:X} is revoked",
                                      serial=old.serial)
        if current.status is CertStatus.SUSPENDED and not allow_suspended:
            raise LifecycleError(f"certificate {old.serial:X} is suspended; resume it first",
                                 serial=old.serial)
        return current

    def _prepare(self, request: IssueRequest, now: dt.datetime) -> _Prepared:
        """Validate a request and do the work that needs no store: key, R, VID, validity."""
        profile = request.profile
        ra = (request.ra if isinstance(request.ra, RegistrationAuthority)
              else RegistrationAuthority.parse(request.ra))
        name, alias = check_subscriber_names(self.style, name=request.name,
                                             alias=request.alias, ra=ra)
        rrn = request.rrn if isinstance(request.rrn, RRN) else RRN.parse(request.rrn)
        policy_oid = profile.policy_for(self.style)
        serial_bits = check_serial_bits(self.style.serial_bits if request.serial_bits is None
                                        else request.serial_bits)
        if request.csr is not None and request.public_key is not None:
            raise ValueError("give a CSR or a public key, not both")

        ca_not_before, ca_not_after = self._ca_validity
        if not ca_not_before <= now <= ca_not_after:
            raise ProfileError(f"CA {self.label!r} is not valid now")
        day = kst_today(now)
        if request.not_before is None:
            not_before, start_day = _day_start(day), day
        else:
            not_before = request.not_before.astimezone(dt.UTC)
            start_day = kst_today(not_before)
        not_after = (_term_end(start_day, profile.term_years)
                     if request.not_after is None else request.not_after.astimezone(dt.UTC))
        if not_after <= not_before:
            raise ProfileError("the certificate would end before it begins",
                               profile=profile.name)
        if not_after > ca_not_after or not_before < ca_not_before:
            bound = ("end after" if not_after > ca_not_after else "begin before")
            raise ValidityError(
                f"a {profile.name} certificate valid {not_before:%Y-%m-%d %H:%M:%S}Z to "
                f"{not_after:%Y-%m-%d %H:%M:%S}Z would {bound} CA {self.label!r} (valid "
                f"{ca_not_before:%Y-%m-%d %H:%M:%S}Z to {ca_not_after:%Y-%m-%d %H:%M:%S}Z)",
                profile=profile.name, ca=self.label, not_before=not_before,
                not_after=not_after, ca_not_before=ca_not_before, ca_not_after=ca_not_after)

        wants_km = request.with_km or request.km_public_key is not None
        if wants_km and profile.family is not Family.JOINT:
            raise ProfileError("key-management certificates go with joint certificates",
                               profile=profile.name)

        private_key: rsa.RSAPrivateKey | None = None
        if request.csr is not None:
            subject_key = check_subscriber_key(load_csr(request.csr).public_key())
            key_origin = KeyOrigin.CSR
        elif request.public_key is not None:
            subject_key = check_subscriber_key(request.public_key)
            key_origin = KeyOrigin.PUBLIC_KEY
        else:
            private_key = self.key_generator.generate(SUBSCRIBER_KEY_BITS)
            subject_key = private_key.public_key()
            key_origin = KeyOrigin.GENERATED

        km = None
        if wants_km:
            km = self._prepare(replace(request, profile=key_management_profile(profile),
                                       csr=None, public_key=request.km_public_key,
                                       with_km=False, km_public_key=None, r=None), now)

        if request.r is None:
            r = self.entropy.token_bytes(R_LENGTH)
        elif isinstance(request.r, bytes) and len(request.r) == R_LENGTH:
            r = request.r
        else:
            raise VIDError(f"R must be {R_LENGTH} bytes")
        profile_extensions = self._profile_extensions.get(profile.name)
        if profile_extensions is None:
            profile_extensions = self._profile_extensions[profile.name] = (
                _extension(profile.key_usage, critical=True),
                _extension(certificate_policies(policy_oid, notice=profile.notice,
                                                cps_url=self.record.cps_url), critical=True))
        return _Prepared(
            profile=profile, name=name, alias=alias, ra=ra, day=day, now=now,
            not_before=not_before, not_after=not_after, subject_key=subject_key,
            private_key=private_key, key_origin=key_origin, r=r,
            san=identify_data_san(encode_identify_data(name, rrn=rrn, r=r)),
            ski=_ski(subject_key), profile_extensions=profile_extensions, km=km,
            replaces=request.replaces, serial_bits=serial_bits,
        )

    def _with_shard_dp(self, builder: x509.CertificateBuilder, shard: int
                       ) -> x509.CertificateBuilder:
        """``builder`` with the distribution point of CRL ``shard`` (and the AIA after it,
        in the profile's order)."""
        point = self._shard_dps.get(shard)
        if point is None:
            point = self._shard_dps[shard] = _crl_dp(shard_url(self.record.crl_url, shard))
        builder = builder.add_extension(point, critical=False)
        if self._aia is not None:
            builder = builder.add_extension(self._aia, critical=False)
        return builder

    def _subject(self, p: _Prepared, sequence: int) -> tuple[x509.Name, str]:
        """The subject of a prepared certificate with CN sequence number ``sequence``, and
        its text."""
        common_name = check_common_name(_common_name(
            self.style, name=p.name, alias=p.alias, ra=p.ra, day=p.day,
            seq=sequence % 10 ** self.style.cn_sequence_digits), name=p.name)
        prefix_rdns, prefix_text = self._subject_prefix(p.profile.ou_marker, p.ra.unit)
        cn = x509.NameAttribute(NameOID.COMMON_NAME, common_name)
        return (x509.Name([*prefix_rdns, x509.RelativeDistinguishedName([cn])]),
                f"{cn.rfc4514_string()},{prefix_text}")

    def _builder(self, p: _Prepared, subject: x509.Name) -> x509.CertificateBuilder:
        """Everything of a prepared certificate but its serial (and the distribution point
        of its CRL shard, which the serial decides).

        Made in one call of the builder's constructor, where a chain of ``add_extension``
        calls copied the builder and re-checked every extension at each step (a tenth of
        the Python of an issuance). The parts are what the chain would set: the times as
        the naive UTC it converts them to; each extension once, in the profile's order;
        ``serial_number`` and ``sign`` still check the serial and completeness.
        """
        extensions = [
            self._aki_extension,
            _extension(p.ski, critical=False),
            *p.profile_extensions,
            _extension(p.san, critical=False),
        ]
        if self.record.crl_shards == 1:
            extensions += self._unsharded_tail
        return x509.CertificateBuilder(
            issuer_name=self._issuer_name, subject_name=subject, public_key=p.subject_key,
            not_valid_before=_naive_utc(p.not_before), not_valid_after=_naive_utc(p.not_after),
            extensions=extensions)

    def _signed(self, todo: _Unsigned, serial: int
                ) -> tuple[x509.Certificate, CertificateRecord]:
        """Sign ``todo`` with ``serial``: the certificate and its record."""
        p = todo.prepared
        shard = shard_of(serial, self.record.crl_shards)
        builder = todo.builder if shard is None else self._with_shard_dp(todo.builder, shard)
        certificate = builder.serial_number(serial).sign(self._key, hashes.SHA256())
        return certificate, CertificateRecord(
            ca=self.label, serial=serial, subject=todo.subject_text, holder=p.name,
            profile=p.profile.name, status=CertStatus.VALID,
            not_before=p.not_before, not_after=p.not_after,
            der=certificate.public_bytes(serialization.Encoding.DER),
            issued_at=p.now, key_origin=p.key_origin,
            ra=f"{p.ra.unit}:{p.ra.institution}:{p.ra.branch}", alias=p.alias,
            replaces=p.replaces, crl_shard=shard,
        )

    def _no_serial(self) -> StoreError:
        return StoreError(f"no unused serial after {_SERIAL_ATTEMPTS} draws at CA "
                          f"{self.label!r}: is the entropy source broken?")

    def _issued(self, p: _Prepared, certificate: x509.Certificate,
                km: IssuedCertificate | None = None) -> IssuedCertificate:
        return IssuedCertificate(certificate=certificate, private_key=p.private_key, r=p.r,
                                 profile=p.profile, ca=self.label, chain=self._chain_out,
                                 key_management=km)

    def _write(self, tx: StoreTransaction, p: _Prepared,
               same_subject_as: tuple[x509.Name, str] | None = None) -> IssuedCertificate:
        """Name, sign and record a prepared certificate (and its KM twin) inside ``tx``."""
        subject, subject_text = (same_subject_as if same_subject_as is not None
                                 else self._subject(p, self._next_sequence(tx)))
        todo = _Unsigned(p, self._builder(p, subject), subject_text)
        for _attempt in range(_SERIAL_ATTEMPTS):
            certificate, record = self._signed(todo, random_serial(self.entropy,
                                                                   p.serial_bits))
            try:
                tx.put_certificate(record)
                break
            except SerialInUseError:
                # The UNIQUE constraint is the arbiter. With 63 random bits and a million
                # certificates issued, a draw collides with probability ~1e-13; short
                # serial_bits make it likelier. Draw again.
                continue
        else:
            raise self._no_serial()
        km = None if p.km is None else self._write(tx, p.km, (subject, subject_text))
        return self._issued(p, certificate, km)

    def _next_sequences(self, tx: StoreTransaction, count: int) -> list[int]:
        """``count`` CN sequence numbers: what is left of the current block, then the rest
        reserved in one statement however many they are."""
        numbers = list(range(self._block_next, min(self._block_end,
                                                   self._block_next + count)))
        self._block_next += len(numbers)
        if len(numbers) < count:
            first = tx.reserve_cn_sequence(self.label, count - len(numbers))
            numbers.extend(range(first, first + count - len(numbers)))
            self._block_uncommitted = True
        if numbers:
            self._last_sequence = numbers[-1]
        return numbers

    def _write_many(self, tx: StoreTransaction, prepared: Sequence[_Prepared],
                    signed: Callable[[int], object]) -> list[IssuedCertificate]:
        """:meth:`_write` for a batch, in a few statements however many certificates: every
        certificate (and KM twin) is named and signed, then all are recorded by one
        :meth:`put_certificates`; those whose serial the CA had used are signed again with
        new serials and recorded again, up to ``_SERIAL_ATTEMPTS`` times. Serials are
        distinct within the batch. ``signed(n)`` is called once the first ``n`` are
        signed."""
        jobs: list[_Unsigned] = []
        certificates: list[x509.Certificate] = []
        records: dict[int, tuple[int, CertificateRecord]] = {}  # serial: job, record
        for done, (p, sequence) in enumerate(
                zip(prepared, self._next_sequences(tx, len(prepared)), strict=True), 1):
            subject, subject_text = self._subject(p, sequence)
            twins = [p] if p.km is None else [p, p.km]
            for one in twins:
                jobs.append(_Unsigned(one, self._builder(one, subject), subject_text))
                certificate, record = self._sign_unique(jobs[-1], records)
                records[record.serial] = (len(certificates), record)
                certificates.append(certificate)
            signed(done)
        batch = [record for _, record in records.values()]
        for _attempt in range(_SERIAL_ATTEMPTS):
            refused = tx.put_certificates(batch)
            if not refused:
                break
            batch = []
            for record in refused:
                index, _ = records.pop(record.serial)
                certificates[index], again = self._sign_unique(jobs[index], records,
                                                               retired=record.serial)
                records[again.serial] = (index, again)
                batch.append(again)
        else:
            raise self._no_serial()
        issued: list[IssuedCertificate] = []
        index = 0
        for p in prepared:
            km = None
            if p.km is not None:
                km = self._issued(p.km, certificates[index + 1])
            issued.append(self._issued(p, certificates[index], km))
            index += 1 if p.km is None else 2
        return issued

    def _sign_unique(self, todo: _Unsigned, taken: Mapping[int, object], *,
                     retired: int | None = None
                     ) -> tuple[x509.Certificate, CertificateRecord]:
        """Sign ``todo`` with a serial not in ``taken`` (nor ``retired``)."""
        for _attempt in range(_SERIAL_ATTEMPTS):
            serial = random_serial(self.entropy, todo.prepared.serial_bits)
            if serial not in taken and serial != retired:
                return self._signed(todo, serial)
        raise self._no_serial()


@dataclass(frozen=True)
class IssueRequest:
    """One certificate to issue; the arguments of :meth:`CertificateAuthority.issue`."""

    profile: Profile
    name: str
    rrn: RRN | str = field(repr=False)
    ra: RegistrationAuthority | str = DEFAULT_RA
    alias: str = ""
    csr: bytes | x509.CertificateSigningRequest | None = None
    public_key: PublicKeyTypes | None = None
    with_km: bool = False
    km_public_key: PublicKeyTypes | None = None
    not_before: dt.datetime | None = None
    """Overrides the start of validity [00:00:00 KST on the clock's day]; the profile's
    term then runs from its KST day unless ``not_after`` is given too."""
    not_after: dt.datetime | None = None
    """Overrides the profile's term (reissue keeps the old notAfter)."""
    replaces: int | None = None
    serial_bits: int | None = None
    """Random bits in the serial; None: the CA style's (63, a signed 64-bit integer)."""
    r: bytes | None = field(default=None, repr=False)
    """The holder's R, when the holder chose it; None: the CA draws it."""


@dataclass(frozen=True)
class _Unsigned:
    """A certificate named and built, waiting for its serial."""

    prepared: _Prepared
    builder: x509.CertificateBuilder
    subject_text: str


@dataclass(frozen=True)
class _Prepared:
    profile: Profile
    name: str
    alias: str
    ra: RegistrationAuthority
    day: dt.date
    now: dt.datetime
    not_before: dt.datetime
    not_after: dt.datetime
    subject_key: rsa.RSAPublicKey
    private_key: rsa.RSAPrivateKey | None
    key_origin: KeyOrigin
    r: bytes
    san: x509.SubjectAlternativeName
    ski: x509.SubjectKeyIdentifier
    profile_extensions: tuple[_AnyExtension, _AnyExtension]
    """keyUsage and certificatePolicies (the same for every certificate of the profile)."""
    km: _Prepared | None
    replaces: int | None
    serial_bits: int

