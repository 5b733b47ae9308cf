"""Certificate profiles and CA styles, as data.

A :class:`Profile` is everything that makes a joint, financial or private certificate what
it is:
term, key usage, policy, the OU marker and the notice. A :class:`CAStyle` is what differs
between licensed CAs (yessign, SignKorea, ...): their names, the country string's case, the
shape of subscriber CNs and which policy OID stands for which profile. Adding a profile or a
style means adding an entry to :data:`PROFILES` or :data:`STYLES`, not a branch in code.
Sources: korean-pki.md sections 1-3 (section 9 for the private certificate).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from . import oids
from .clock import add_years, kst_day_start, kst_today
from .entropy import DEFAULT_SERIAL_BITS
from .errors import ProfileError

__all__ = [
    "DEFAULT_RA",
    "FINANCIAL_PROFILES",
    "JOINT_PROFILES",
    "KNOWN_RAS",
    "LICENSED_CA_PROFILE",
    "POLICY_CLASSES",
    "PRIVATE_PROFILE",
    "PRIVATE_STYLE",
    "PROFILES",
    "ROOT_PROFILE",
    "STYLES",
    "TSA_PROFILE",
    "CAProfile",
    "CAStyle",
    "Family",
    "FinancialKind",
    "JointPolicy",
    "KeyType",
    "PolicyClass",
    "Profile",
    "RegistrationAuthority",
    "ServiceProfile",
    "get_profile",
    "get_style",
    "key_management_profile",
    "policy_class",
]


class Family(enum.Enum):
    """The certificate family: where the key lives and how it is unlocked."""

    JOINT = "joint"  # 공동인증서: NPKI files under a password
    FINANCIAL = "financial"  # 금융인증서: cloud keystore under a PIN
    PRIVATE = "private"  # 사설인증서 (KB's mobile certificate): on the device under a PIN


class JointPolicy(enum.Enum):
    GENERAL = "general"  # 범용: accepted everywhere
    BANKING = "banking"  # banking / insurance / card only


class FinancialKind(enum.Enum):
    PERSONAL = "personal"
    BUSINESS = "business"


class KeyType(enum.Enum):
    """RSA key sizes kpki generates."""

    RSA2048 = 2048
    RSA3072 = 3072

    @property
    def bits(self) -> int:
        return self.value


def _key_usage(*, signing: bool = False, encipherment: bool = False,
               ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing, content_commitment=signing,
        key_encipherment=encipherment, data_encipherment=False, key_agreement=False,
        key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )


SIGNING = _key_usage(signing=True)
ENCIPHERMENT = _key_usage(encipherment=True)
CA_USAGE = _key_usage(ca=True)

TEST_NOTICE = "이 인증서는 시험용 인증서입니다"


@dataclass(frozen=True)
class Profile:
    """A subscriber certificate profile."""

    name: str
    """Label used on the CLI and in the store, e.g. ``joint-general``."""
    family: Family
    term_years: int
    """Validity in whole years; notAfter is that day at 23:59:59 KST."""
    ou_marker: str
    """The first OU of the subject, e.g. ``personal4IB`` or ``personalF``."""
    policy_oids: Mapping[str, ObjectIdentifier]
    """Policy OID by CA style name; a style missing here cannot issue this profile."""
    key_usage: x509.KeyUsage = SIGNING
    notice: str = TEST_NOTICE
    """certificatePolicies userNotice explicitText, written as a BMPString."""
    renewal_window_days: int = 30
    """How long before notAfter renewal opens."""
    renewal_after_years: int | None = None
    """If set, renewal opens at the start of the KST day this many years after notBefore
    (after that much use, as KB's mobile certificate: 1 year, *setting*) instead of
    ``renewal_window_days`` before notAfter. It closes at notAfter either way."""
    description: str = ""

    def renewal_opens_at(self, *, not_before: dt.datetime, not_after: dt.datetime
                         ) -> dt.datetime:
        """When renewal of a certificate of this profile valid from ``not_before`` to
        ``not_after`` opens."""
        if self.renewal_after_years is not None:
            return kst_day_start(add_years(kst_today(not_before), self.renewal_after_years))
        return not_after - dt.timedelta(days=self.renewal_window_days)

    @property
    def renewal_rule(self) -> str:
        """The renewal rule in words, for documents (the CPS)."""
        if self.renewal_after_years is not None:
            years = self.renewal_after_years
            return f"renewal opens after {years} year{'s' if years != 1 else ''} of use"
        return f"renewal opens {self.renewal_window_days} days before the end"

    def policy_for(self, style: CAStyle) -> ObjectIdentifier:
        try:
            return self.policy_oids[style.name]
        except KeyError:
            raise ProfileError(
                f"a {style.name}-style CA does not issue {self.name} certificates",
                profile=self.name,
            ) from None


@dataclass(frozen=True)
class CAStyle:
    """What a licensed CA's certificates look like."""

    name: str
    organization: str
    country: str
    """The C value in this CA's names; yessign writes ``kr`` in lower case."""
    ca_unit: str
    default_ca_name: str
    cn_template: str
    """``str.format`` template for subscriber CNs. Fields: ``name``, ``alias`` (romanised
    name or empty), ``institution`` (3 digits), ``branch`` (5 digits), ``date`` (issue day,
    a ``date``), ``seq`` (the CA's sequence number, an int)."""
    cn_sequence_digits: int
    """How many digits ``seq`` has in the template; the sequence wraps within them."""
    serial_bits: int = DEFAULT_SERIAL_BITS
    """Random bits in the serials this CA issues (and in its own certificate's): 63 by
    default, so every serial fits in a signed 64-bit integer as real Korean CAs' do;
    ``serial_bits=`` on issuance (``--serial-bits``) asks for longer ones."""


_YESSIGN_CN = "{name}({alias})0{institution}{branch}{date:%y%m%d}{seq:09d}"

STYLES: Mapping[str, CAStyle] = MappingProxyType({
    s.name: s
    for s in (
        CAStyle("yessign", "yessign", "kr", "AccreditedCA", "yessignCA-Test Class 4",
                _YESSIGN_CN, 9),
        CAStyle("signkorea", "SignKorea", "KR", "AccreditedCA", "SignKorea Test CA 5",
                "{name}-{seq:07d}", 7),
        CAStyle("kica", "KICA", "KR", "AccreditedCA", "signGATE Test CA 6",
                "{name}({alias}){date:%y%m%d}{seq:08d}", 8),
        CAStyle("crosscert", "CrossCert", "KR", "AccreditedCA", "CrossCert Test CA 4",
                "{name}({alias}){date:%y%m%d}{seq:08d}", 8),
        CAStyle("tradesign", "TradeSign", "KR", "AccreditedCA", "TradeSign Test CA 4",
                "{name}({alias}){date:%y%m%d}{seq:08d}", 8),
        # A bank's own CA for its private certificates, in the manner of KB's mobile
        # certificate (korean-pki.md section 9). KB publishes neither its CA's names nor
        # its subscribers' CN shape: these are kpki's, the bank in O, "PrivateCA" where a
        # licensed CA writes "AccreditedCA", and the CN the holder's name, the bank's
        # 3-digit code and a 10-digit sequence. It issues private certificates only
        # (PRIVATE_PROFILE lists it alone; no joint or financial profile lists it).
        CAStyle("kbprivate", "KB Kookmin Bank", "KR", "PrivateCA", "KB Private Test CA 1",
                "{name}-{institution}{seq:010d}", 10),
    )
})

PRIVATE_STYLE = "kbprivate"
"""The style of the CAs that issue private certificates (and nothing else)."""


def _pm(**by_style: ObjectIdentifier) -> Mapping[str, ObjectIdentifier]:
    return MappingProxyType(dict(by_style))


PROFILES: Mapping[str, Profile] = MappingProxyType({
    p.name: p
    for p in (
        Profile(
            "joint-general", Family.JOINT, 1, "personal4IB",
            _pm(yessign=oids.YESSIGN_GENERAL, signkorea=oids.SIGNKOREA_PERSONAL,
                kica=oids.KICA_PERSONAL, crosscert=oids.CROSSCERT_PERSONAL,
                tradesign=oids.TRADESIGN_PERSONAL),
            description="joint certificate, general purpose (범용)",
        ),
        Profile(
            "joint-banking", Family.JOINT, 1, "personal4IB",
            _pm(yessign=oids.YESSIGN_BANKING),
            description="joint certificate for banking, insurance and cards (용도제한)",
        ),
        Profile(
            "financial-personal", Family.FINANCIAL, 3, "personalF",
            _pm(yessign=oids.FINANCIAL_PERSONAL), renewal_window_days=31,
            description="financial certificate for a person (금융인증서)",
        ),
        Profile(
            # The OU marker of business financial certificates is not documented; "businessF"
            # follows the personal one's pattern.
            "financial-business", Family.FINANCIAL, 3, "businessF",
            _pm(yessign=oids.FINANCIAL_BUSINESS_3Y), renewal_window_days=31,
            description="financial certificate for a business, 3 years",
        ),
        Profile(
            # KB's mobile certificate (korean-pki.md section 9): 2 years, renewable after a
            # year of use (both *settings*), signing like a joint certificate. Private
            # providers publish neither their policy OIDs nor their OU markers: the policy
            # is kpki's own (oids.PRIVATE_PERSONAL), issued by a private-style CA only (a
            # bank's own CA, not a licensed one); "personalP" follows the financial
            # certificate's "personalF".
            "private-personal", Family.PRIVATE, 2, "personalP",
            _pm(kbprivate=oids.PRIVATE_PERSONAL), renewal_after_years=1,
            description="private certificate for a person (사설인증서, KB-style mobile)",
        ),
    )
})

def key_management_profile(profile: Profile) -> Profile:
    """The key-management (``kmCert.der``) twin of a joint profile: keyEncipherment."""
    return replace(profile, name=f"{profile.name}-km", key_usage=ENCIPHERMENT,
                   description=f"{profile.description}, key management (kmCert)")


PROFILES = MappingProxyType({
    **PROFILES,
    **{f"{name}-km": key_management_profile(p) for name, p in PROFILES.items()
       if p.family is Family.JOINT},
})

JOINT_PROFILES = MappingProxyType({
    JointPolicy.GENERAL: PROFILES["joint-general"],
    JointPolicy.BANKING: PROFILES["joint-banking"],
})
FINANCIAL_PROFILES = MappingProxyType({
    FinancialKind.PERSONAL: PROFILES["financial-personal"],
    FinancialKind.BUSINESS: PROFILES["financial-business"],
})
PRIVATE_PROFILE = PROFILES["private-personal"]
"""The private certificate (사설인증서), modelled on KB's mobile certificate."""


class PolicyClass(enum.Enum):
    """How a relying party reads a policy OID (korean-pki.md section 1)."""

    GENERAL = "general"  # 범용: accepted everywhere
    RESTRICTED = "restricted"  # 용도제한: banking/insurance/card only
    FINANCIAL = "financial"  # 금융인증서
    PRIVATE = "private"  # 사설인증서 (kpki's own policy OID)
    SERVER = "server"
    UNKNOWN = "unknown"


POLICY_CLASSES: Mapping[str, PolicyClass] = MappingProxyType({
    **{o.dotted_string: PolicyClass.GENERAL for o in (
        oids.YESSIGN_GENERAL, oids.YESSIGN_CORPORATE, oids.SIGNKOREA_PERSONAL,
        oids.SIGNKOREA_CORPORATE, oids.KICA_PERSONAL, oids.KICA_CORPORATE,
        oids.CROSSCERT_PERSONAL, oids.CROSSCERT_CORPORATE, oids.TRADESIGN_PERSONAL,
        oids.TRADESIGN_CORPORATE)},
    oids.YESSIGN_BANKING.dotted_string: PolicyClass.RESTRICTED,
    oids.YESSIGN_SERVER.dotted_string: PolicyClass.SERVER,
    **{o.dotted_string: PolicyClass.FINANCIAL for o in (
        oids.FINANCIAL_PERSONAL, oids.FINANCIAL_BUSINESS_1Y, oids.FINANCIAL_BUSINESS_2Y,
        oids.FINANCIAL_BUSINESS_3Y)},
    oids.PRIVATE_PERSONAL.dotted_string: PolicyClass.PRIVATE,
})


def policy_class(oid: str) -> PolicyClass:
    return POLICY_CLASSES.get(oid, PolicyClass.UNKNOWN)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ProfileError(f"unknown profile {name!r} (known: {known})", profile=name) from None


def get_style(name: str) -> CAStyle:
    try:
        return STYLES[name]
    except KeyError:
        known = ", ".join(sorted(STYLES))
        raise ProfileError(f"unknown CA style {name!r} (known: {known})") from None


@dataclass(frozen=True)
class RegistrationAuthority:
    """The registration authority (bank or agent) that identified the holder.

    ``unit`` is the second subject OU (``INITECH``, ``NACF``); ``institution`` the 3-digit
    code and ``branch`` the 5 digits that yessign puts into the CN.
    """

    unit: str
    institution: str = "000"
    branch: str = "00000"

    def __post_init__(self) -> None:
        if not (self.unit and self.unit.isascii() and self.unit.replace("_", "").isalnum()
                and len(self.unit) <= 32):
            raise ProfileError(f"RA unit {self.unit!r} must be 1-32 ASCII letters or digits")
        if not (len(self.institution) == 3 and self.institution.isdigit()
                and self.institution.isascii()):
            raise ProfileError(f"RA institution code {self.institution!r} must be 3 digits")
        if not (len(self.branch) == 5 and self.branch.isdigit() and self.branch.isascii()):
            raise ProfileError(f"RA branch code {self.branch!r} must be 5 digits")

    @classmethod
    def parse(cls, text: str) -> RegistrationAuthority:
        """``UNIT``, ``UNIT:INST`` or ``UNIT:INST:BRANCH``; known units get their codes."""
        parts = text.split(":")
        if len(parts) > 3:
            raise ProfileError(f"RA {text!r} is not UNIT[:INSTITUTION[:BRANCH]]")
        unit = parts[0]
        known = KNOWN_RAS.get(unit.upper())
        institution = parts[1] if len(parts) > 1 else (known.institution if known else "000")
        branch = parts[2] if len(parts) > 2 else (known.branch if known else "00000")
        return cls(unit, institution, branch)


KNOWN_RAS: Mapping[str, RegistrationAuthority] = MappingProxyType({
    ra.unit: ra
    for ra in (
        # Bank codes are the public Korean bank codes; INITECH's is the one in the
        # real yessign test certificate.
        RegistrationAuthority("INITECH", "091", "04120"),
        RegistrationAuthority("NACF", "011"),
        RegistrationAuthority("KB", "004"),
        RegistrationAuthority("IBK", "003"),
        RegistrationAuthority("WOORI", "020"),
        RegistrationAuthority("SHINHAN", "088"),
        RegistrationAuthority("HANA", "081"),
        RegistrationAuthority("KFTC", "099"),
    )
})

DEFAULT_RA = KNOWN_RAS["INITECH"]


@dataclass(frozen=True)
class CAProfile:
    """The profile of a CA certificate (korean-pki.md section 2)."""

    term_years: int
    path_length: int | None
    notice: str = TEST_NOTICE
    key_usage: x509.KeyUsage = field(default=CA_USAGE)


ROOT_PROFILE = CAProfile(term_years=20, path_length=None)
LICENSED_CA_PROFILE = CAProfile(term_years=10, path_length=0)


@dataclass(frozen=True)
class ServiceProfile:
    """The profile of a certificate a CA issues to one of kpki's own services."""

    name: str
    """The profile label the store records the certificate under."""
    common_name_suffix: str
    """Appended to the issuer's CN: ``Kisa Test RootCA 7 TSA``."""
    term_years: int
    """Validity in whole years (KST days), never beyond the issuer's own."""
    key_usage: x509.KeyUsage
    extended_key_usage: tuple[ObjectIdentifier, ...]
    extended_key_usage_critical: bool
    policy: ObjectIdentifier
    """Written to certificatePolicies (with the notice and the issuer's CPS), so
    clients that require an explicit policy accept the certificate."""
    renew_before_days: int
    """A new certificate is made when the current one ends within this many days."""
    notice: str = TEST_NOTICE
    """certificatePolicies userNotice explicitText (BMPString)."""


TSA_PROFILE = ServiceProfile(
    # RFC 3161 section 2.3: the extended key usage is id-kp-timeStamping alone, critical.
    name="tsa", common_name_suffix="TSA", term_years=5, key_usage=SIGNING,
    extended_key_usage=(oids.TIME_STAMPING,), extended_key_usage_critical=True,
    policy=oids.TSA_POLICY, renew_before_days=30)
