"""Certificate authorities: the KISA-style root, licensed CAs, and subscriber issuance.

:class:`CertificateAuthority` issues joint and financial certificates in the profile of
korean-pki.md section 3. Building and signing a certificate, advancing the CA's CN
sequence, recording the certificate and its audit row all happen in one store transaction,
so concurrent issuers never share a serial or a sequence number and a failure leaves nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from . import oids
from .clock import Clock, SystemClock, kst_today, validity_for
from .entropy import Entropy, SystemEntropy, random_serial
from .errors import (
    CSRError,
    InvalidNameError,
    ProfileError,
    SerialInUseError,
    StoreError,
    UnsupportedKeyError,
)
from .extensions import certificate_policies, identify_data_san
from .keys.generate import KeyGenerator, RSAKeyGenerator, check_subscriber_key
from .names import MAX_CN_LENGTH, build_name, check_holder_name, npki_folder_name
from .profiles import (
    DEFAULT_RA,
    FINANCIAL_PROFILES,
    JOINT_PROFILES,
    CAProfile,
    CAStyle,
    FinancialKind,
    JointPolicy,
    Profile,
    RegistrationAuthority,
    get_style,
)
from .rrn import RRN
from .store import (
    CARecord,
    CertificateRecord,
    CertStatus,
    KeyOrigin,
    Store,
    StoreTransaction,
)
from .vid import R_LENGTH, encode_identify_data

__all__ = [
    "CertificateAuthority",
    "IssuedCertificate",
    "build_ca_certificate",
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
        except ValueError as exc:
            raise CSRError(f"not a certificate signing request: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # pyca raises for unsupported algorithms
        raise CSRError(f"the CSR's signature cannot be checked: {exc}") from None
    if not valid:
        raise CSRError("the CSR's signature does not verify")
    return csr


def _ski(public_key: PublicKeyTypes) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)  # type: ignore[arg-type]


def build_ca_certificate(
    *,
    subject: x509.Name,
    public_key: PublicKeyTypes,
    issuer: x509.Certificate | None,
    issuer_key: CertificateIssuerPrivateKeyTypes,
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


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([
        x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    ])


class CertificateAuthority:
    """A licensed CA that issues subscriber certificates into a store.

    ``key_generator``, ``clock`` and ``entropy`` are injected: tests freeze the clock, draw
    keys from a cache and make serials and R reproducible.
    """

    def __init__(
        self,
        record: CARecord,
        key: CertificateIssuerPrivateKeyTypes,
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
        self._aia = (x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier(record.ocsp_url))]) if record.ocsp_url else None)
        self._policies: dict[str, x509.UnrecognizedExtension] = {}
        self._subject_prefixes: dict[tuple[str, str], tuple[list[x509.RelativeDistinguishedName],
                                                            str]] = {}
        self._ca_validity = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        self._block_next = self._block_end = 0
        self._block_size = 1
        self._pending_block: tuple[int, int, int] | None = None

    @property
    def label(self) -> str:
        return self.record.label

    @property
    def certificate(self) -> x509.Certificate:
        return self.record.certificate

    def _next_sequence(self, tx: StoreTransaction) -> int:
        """The next CN sequence number, from a block reserved in the store.

        Blocks grow 1, 2, 4 ... 32, so one-shot issuers (each CLI run) get consecutive
        numbers while a bulk issuer rewrites the CA row only once per 32 certificates.
        Concurrent issuers get disjoint blocks: numbers are unique per CA, not gap-free.
        A block reserved in a transaction that rolls back is forgotten with it.
        """
        self._pending_block = None
        if self._block_next >= self._block_end:
            size = min(self._block_size, _MAX_SEQUENCE_BLOCK)
            first = tx.reserve_cn_sequence(self.label, size)
            self._pending_block = (first + 1, first + size, size * 2)
            return first
        number = self._block_next
        self._block_next += 1
        return number

    def _commit_sequence_block(self) -> None:
        if self._pending_block is not None:
            self._block_next, self._block_end, self._block_size = self._pending_block
            self._pending_block = None

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
    ) -> IssuedCertificate:
        """A joint certificate (공동인증서), one year, general-purpose or banking policy."""
        return self.issue(JOINT_PROFILES[JointPolicy(policy)], name=name, rrn=rrn, ra=ra,
                          alias=alias, csr=csr, public_key=public_key)

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
    ) -> IssuedCertificate:
        """A financial certificate (금융인증서), three years, personal or business."""
        return self.issue(FINANCIAL_PROFILES[FinancialKind(kind)], name=name, rrn=rrn, ra=ra,
                          alias=alias, csr=csr, public_key=public_key)

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
    ) -> IssuedCertificate:
        """Issue a subscriber certificate of ``profile``.

        With ``csr`` (which must verify) or ``public_key`` no key is generated and the
        result's ``private_key`` is ``None``. Raises :class:`InvalidRRNError`,
        :class:`InvalidNameError`, :class:`ProfileError`, :class:`CSRError` or
        :class:`UnsupportedKeyError` before anything is written.
        """
        # Everything that can be refused is checked before the transaction starts.
        name = check_holder_name(name)
        alias = check_holder_name(alias, field="alias") if alias else ""
        rrn = rrn if isinstance(rrn, RRN) else RRN.parse(rrn)
        ra = ra if isinstance(ra, RegistrationAuthority) else RegistrationAuthority.parse(ra)
        policy_oid = profile.policy_for(self.style)
        if csr is not None and public_key is not None:
            raise ValueError("give a CSR or a public key, not both")

        private_key: rsa.RSAPrivateKey | None = None
        if csr is not None:
            subject_key = check_subscriber_key(load_csr(csr).public_key())
            key_origin = KeyOrigin.CSR
        elif public_key is not None:
            subject_key = check_subscriber_key(public_key)
            key_origin = KeyOrigin.PUBLIC_KEY
        else:
            private_key = self.key_generator.generate(SUBSCRIBER_KEY_BITS)
            subject_key = private_key.public_key()
            key_origin = KeyOrigin.GENERATED

        now = self.clock.now()
        day = kst_today(now)
        not_before, not_after = validity_for(day, profile.term_years)
        ca_cert = self.certificate
        ca_not_before, ca_not_after = self._ca_validity
        if not ca_not_before <= now <= ca_not_after:
            raise ProfileError(f"CA {self.label!r} is not valid now")
        if not_after > ca_not_after:
            raise ProfileError(
                f"a {profile.name} certificate issued now would outlive CA {self.label!r}",
                profile=profile.name)

        r = self.entropy.token_bytes(R_LENGTH)
        san = identify_data_san(encode_identify_data(name, rrn=rrn, r=r))
        policies = self._policies.get(profile.name)
        if policies is None:
            policies = certificate_policies(policy_oid, notice=profile.notice,
                                            cps_url=self.record.cps_url)
            self._policies[profile.name] = policies
        ski = _ski(subject_key)

        with self._store.transaction() as tx:
            sequence = self._next_sequence(tx) % 10 ** self.style.cn_sequence_digits
            common_name = self.style.cn_template.format(
                name=name, alias=alias, institution=ra.institution, branch=ra.branch,
                date=day, seq=sequence)
            if len(common_name) > MAX_CN_LENGTH:
                raise InvalidNameError(
                    f"the CN would be {len(common_name)} characters; RFC 5280 allows "
                    f"{MAX_CN_LENGTH}", name=name)
            prefix_rdns, prefix_text = self._subject_prefix(profile.ou_marker, ra.unit)
            cn = x509.NameAttribute(NameOID.COMMON_NAME, common_name)
            subject = x509.Name([*prefix_rdns, x509.RelativeDistinguishedName([cn])])
            subject_text = f"{cn.rfc4514_string()},{prefix_text}"
            builder = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(ca_cert.subject)
                .public_key(subject_key)
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(self._aki, critical=False)
                .add_extension(ski, critical=False)
                .add_extension(profile.key_usage, critical=True)
                .add_extension(policies, critical=True)
                .add_extension(san, critical=False)
                .add_extension(self._crl_dp, critical=False)
            )
            if self._aia is not None:
                builder = builder.add_extension(self._aia, critical=False)
            for _attempt in range(_SERIAL_ATTEMPTS):
                serial = random_serial(self.entropy)
                certificate = builder.serial_number(serial).sign(self._key, hashes.SHA256())
                try:
                    tx.put_certificate(CertificateRecord(
                        ca=self.label, serial=serial, subject=subject_text,
                        holder=name, profile=profile.name, status=CertStatus.VALID,
                        not_before=not_before, not_after=not_after,
                        der=certificate.public_bytes(serialization.Encoding.DER),
                        issued_at=now, key_origin=key_origin,
                    ))
                    break
                except SerialInUseError:
                    # The UNIQUE constraint is the arbiter; with 127 random bits this
                    # branch is for broken entropy sources, not for chance.
                    continue
            else:
                raise StoreError(f"no unused serial after {_SERIAL_ATTEMPTS} draws at CA "
                                 f"{self.label!r}: is the entropy source broken?")
        self._commit_sequence_block()
        return IssuedCertificate(certificate=certificate, private_key=private_key, r=r,
                                 profile=profile, ca=self.label,
                                 chain=(ca_cert, *self.chain))


def check_ca_key(key: object) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedKeyError("kpki CA keys are RSA")
    return key
