"""identifyData and the VID (korean-pki.md section 5), in asn1crypto's declarative specs.

The subjectAltName of a Korean subscriber certificate holds an otherName of type
identifyData whose value is::

    IdentifyData ::= SEQUENCE { realName UTF8String, userInfos SEQUENCE OF UserInfo OPTIONAL }
    UserInfo     ::= SEQUENCE { idType OBJECT IDENTIFIER, idValue ANY DEFINED BY idType }
    VID          ::= SEQUENCE { hashAlg AlgorithmIdentifier, virtualID [0] EXPLICIT OCTET STRING }
    HashContent  ::= SEQUENCE { idn PrintableString, randomNum BIT STRING }

``virtualID = H(H(DER(HashContent)))``. Real certificates write the SHA-256
AlgorithmIdentifier *without* NULL parameters, which asn1crypto's own ``DigestAlgorithm``
would add, hence :class:`pki.formats.asn1specs.AlgorithmIdentifier`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import cast

from asn1crypto import core
from cryptography import x509

from . import oids
from .errors import PKIError
from .formats import der
from .formats.asn1specs import AlgorithmIdentifier
from .rrn import RRN

__all__ = [
    "R_LENGTH",
    "HashName",
    "IdentifyData",
    "VIDError",
    "compute_vid",
    "decode_identify_data",
    "encode_identify_data",
    "identify_data_of",
    "register_with_asn1crypto",
    "vid_matches",
]

R_LENGTH = 20

HashName = str  # "sha256" or "sha1"
_HASH_OIDS = {"sha256": oids.SHA256.dotted_string, "sha1": oids.SHA1.dotted_string}
_HASH_NAMES = {v: k for k, v in _HASH_OIDS.items()}


class VIDError(PKIError, ValueError):
    """identifyData is malformed, or a VID cannot be computed from what was given."""


class _HashContent(core.Sequence):  # type: ignore[misc]
    _fields = [("idn", core.PrintableString), ("random_num", core.OctetBitString)]


class _VID(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("hash_alg", AlgorithmIdentifier),
        ("virtual_id", core.OctetString, {"explicit": 0}),
    ]


class _UserInfo(core.Sequence):  # type: ignore[misc]
    _fields = [("id_type", core.ObjectIdentifier), ("id_value", core.Any)]


class _UserInfos(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _UserInfo


class _IdentifyData(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("real_name", core.UTF8String),
        ("user_infos", _UserInfos, {"optional": True}),
    ]


_HASH_ALGORITHM_DER = {
    name: cast(bytes, AlgorithmIdentifier({"algorithm": oid}).dump())
    for name, oid in _HASH_OIDS.items()
}


@dataclass(frozen=True)
class IdentifyData:
    """The decoded identifyData of a certificate: the real name and, for persons, the VID."""

    real_name: str
    vid: bytes | None = None
    hash_name: HashName | None = None


def _rrn(rrn: RRN | str) -> RRN:
    if isinstance(rrn, RRN):
        return rrn
    if isinstance(rrn, str):
        return RRN.parse(rrn)
    raise TypeError(f"the RRN must be an RRN or a str, not {type(rrn).__name__}")


def compute_vid(rrn: RRN | str, r: bytes, *, hash_name: HashName = "sha256") -> bytes:
    """``H(H(DER(HashContent{rrn, r})))``. A str RRN is parsed (:class:`InvalidRRNError`
    if it is not one; :class:`TypeError` for anything else)."""
    rrn = _rrn(rrn)
    if len(r) != R_LENGTH:
        raise VIDError(f"R must be {R_LENGTH} bytes, got {len(r)}")
    if hash_name not in _HASH_OIDS:
        raise VIDError(f"unsupported VID hash {hash_name!r}")
    content = der.hash_content(rrn.digits, r)
    return hashlib.new(hash_name, hashlib.new(hash_name, content).digest()).digest()


def encode_identify_data(real_name: str, *, rrn: RRN | None = None, r: bytes | None = None,
                         hash_name: HashName = "sha256") -> bytes:
    """DER of IdentifyData: the otherName value (inside its ``[0] EXPLICIT``).

    With ``rrn`` and ``r`` it carries a VID; without, realName only (servers and CAs).
    """
    if rrn is None and r is None:
        return cast(bytes, _IdentifyData({"real_name": real_name}).dump())
    if rrn is None or r is None:
        raise VIDError("a VID needs both the RRN and R")
    # The hot path of issuance: see pki.formats.der for why this is not asn1crypto.
    return der.identify_data_with_vid(real_name, _HASH_ALGORITHM_DER[hash_name],
                                      compute_vid(rrn, r, hash_name=hash_name))


def encode_identify_data_reference(real_name: str, *, rrn: RRN, r: bytes,
                                   hash_name: HashName = "sha256") -> bytes:
    """The same encoding through asn1crypto; the byte-for-byte reference for tests."""
    vid = _VID({
        "hash_alg": {"algorithm": _HASH_OIDS[hash_name]},
        "virtual_id": compute_vid(rrn, r, hash_name=hash_name),
    })
    value = {"real_name": real_name,
             "user_infos": [{"id_type": oids.VID.dotted_string, "id_value": vid}]}
    return cast(bytes, _IdentifyData(value).dump(force=True))


def hash_content_reference(idn: str, r: bytes) -> bytes:
    """HashContent through asn1crypto; the byte-for-byte reference for tests."""
    return cast(bytes, _HashContent({"idn": idn, "random_num": r}).dump())


def decode_identify_data(der: bytes) -> IdentifyData:
    """Parse the otherName value; raises :class:`VIDError` on anything malformed."""
    try:
        parsed = _IdentifyData.load(der, strict=True)
        real_name = cast(str, parsed["real_name"].native)
        infos = parsed["user_infos"]
        if isinstance(infos, core.Void):
            return IdentifyData(real_name)
        for info in infos:
            if info["id_type"].dotted != oids.VID.dotted_string:
                continue
            vid = _VID.load(info["id_value"].dump(), strict=True)
            alg = vid["hash_alg"]["algorithm"].dotted
            if alg not in _HASH_NAMES:
                raise VIDError(f"unsupported VID hash algorithm {alg}")
            return IdentifyData(real_name, cast(bytes, vid["virtual_id"].native),
                                _HASH_NAMES[alg])
        return IdentifyData(real_name)
    except VIDError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise VIDError(f"malformed identifyData: {exc}") from None


def identify_data_of(certificate: x509.Certificate) -> IdentifyData | None:
    """The identifyData of ``certificate``'s subjectAltName (its first otherName), or
    ``None`` if it has none; raises :class:`VIDError` if it is malformed."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    others = san.value.get_values_for_type(x509.OtherName)
    return decode_identify_data(others[0].value) if others else None


def vid_matches(data: IdentifyData, rrn: RRN | str, r: bytes) -> bool:
    """The identity check (본인확인): does this RRN and R give the certificate's VID?

    ``rrn`` is an :class:`RRN` or its 13 digits as a str (a hyphen after the sixth allowed);
    a str that is no RRN raises :class:`InvalidRRNError`, another type :class:`TypeError`.
    """
    rrn = _rrn(rrn)
    if data.vid is None or data.hash_name is None or len(r) != R_LENGTH:
        return False
    return hmac.compare_digest(compute_vid(rrn, r, hash_name=data.hash_name), data.vid)


class _UserInfoByType(core.Sequence):  # type: ignore[misc]
    """UserInfo with idValue read by idType, for asn1crypto-based readers."""

    _fields = [("id_type", core.ObjectIdentifier), ("id_value", core.Any)]
    _oid_pair = ("id_type", "id_value")
    _oid_specs = {oids.VID.dotted_string: _VID}


class _UserInfosByType(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _UserInfoByType


class _IdentifyDataByType(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("real_name", core.UTF8String),
        ("user_infos", _UserInfosByType, {"optional": True}),
    ]


def register_with_asn1crypto() -> None:
    """Teach asn1crypto's ``x509.AnotherName`` the identifyData otherName.

    Libraries that read certificates through asn1crypto (pyHanko, pyhanko-certvalidator,
    certomancer) turn every subjectAltName entry into Python values while they check name
    constraints. asn1crypto reads an otherName of a type it does not know as generic DER,
    and the VID's ``[0] EXPLICIT`` field makes that fail ("Unknown element - context class,
    constructed method, tag 0"), so they refuse every Korean subscriber certificate, real
    or kpki's. Call this once before validating with them. It only adds identifyData to
    asn1crypto's table of otherName types; calling it again changes nothing.
    """
    from asn1crypto import x509 as asn1_x509

    other_name = asn1_x509.AnotherName
    specs = dict(getattr(other_name, "_oid_specs", None) or {})
    specs[oids.IDENTIFY_DATA.dotted_string] = _IdentifyDataByType
    other_name._oid_pair = ("type_id", "value")
    other_name._oid_specs = specs
    other_name()._setup()  # asn1crypto precomputes field specs per class
