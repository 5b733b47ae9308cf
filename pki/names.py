"""Distinguished names in the shapes Korean CAs use (korean-pki.md sections 2 and 6).

Subject attributes go in the order real certificates use (C, O, OU..., CN); C is a
PrintableString and every other attribute a UTF8String, which is pyca's default for each.
"""

from __future__ import annotations

import functools
import unicodedata

from cryptography import x509
from cryptography.x509.oid import NameOID

from .errors import InvalidNameError

__all__ = [
    "MAX_CN_LENGTH",
    "MAX_NAME_LENGTH",
    "build_name",
    "check_holder_name",
    "npki_folder_name",
]

MAX_CN_LENGTH = 64  # RFC 5280 ub-common-name
MAX_NAME_LENGTH = 30  # leaves room for the longest CN suffix any style adds

_SHORT = {
    NameOID.COUNTRY_NAME: "c",
    NameOID.ORGANIZATION_NAME: "o",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "ou",
    NameOID.COMMON_NAME: "cn",
    NameOID.SERIAL_NUMBER: "serialnumber",
}

# Characters that would break an NPKI folder name or a CN's "(...)" shape.
_FORBIDDEN = set('/\\()\x00')


@functools.lru_cache(maxsize=4096)
def check_holder_name(name: str, *, field: str = "name") -> str:
    """Validate a holder's real name (or its romanised alias) and return it NFC-normalised.

    Raises :class:`InvalidNameError` if it is empty, longer than ``MAX_NAME_LENGTH``
    characters, has surrounding white space, or holds control characters, slashes or
    parentheses.
    """
    if not isinstance(name, str):
        raise TypeError(f"{field} must be a str")
    norm = unicodedata.normalize("NFC", name)
    if not norm or not norm.strip():
        raise InvalidNameError(f"the {field} is empty", name=name)
    if norm != norm.strip():
        raise InvalidNameError(f"the {field} has leading or trailing spaces", name=name)
    if len(norm) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"the {field} is {len(norm)} characters; at most {MAX_NAME_LENGTH} fit in a CN",
            name=name,
        )
    bad = sorted({c for c in norm if c in _FORBIDDEN or unicodedata.category(c)[0] == "C"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidNameError(f"the {field} contains characters not allowed: {shown}",
                               name=name)
    return norm


def build_name(*, country: str, organization: str, units: tuple[str, ...] = (),
               common_name: str) -> x509.Name:
    """C, O, OU..., CN as single-attribute RDNs, in that order."""
    if len(common_name) > MAX_CN_LENGTH:
        raise InvalidNameError(
            f"the CN would be {len(common_name)} characters; RFC 5280 allows {MAX_CN_LENGTH}",
            name=common_name,
        )
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in units),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    return x509.Name(attrs)


def _escape(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (
            ch == " " and i in (0, len(value) - 1)
        ):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def npki_folder_name(name: x509.Name) -> str:
    """The NPKI folder name of a subject: RFC 4514 order, attribute types in lower case.

    ``cn=홍길동()0011234…,ou=INITECH,ou=personal4IB,o=yessign,c=kr``: values keep their case.
    """
    parts = []
    for rdn in reversed(name.rdns):
        parts.append("+".join(
            f"{_SHORT.get(a.oid, a.oid.dotted_string)}={_escape(str(a.value))}" for a in rdn
        ))
    return ",".join(parts)
