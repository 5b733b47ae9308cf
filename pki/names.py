"""Distinguished names in the shapes Korean CAs use (korean-pki.md sections 2 and 6).

Subject attributes go in the order real certificates use (C, O, OU..., CN); C is a
PrintableString and every other attribute a UTF8String, which is pyca's default for each.

The rules a name must pass to become a certificate and an NPKI folder live here, once:

* a CN holds at most 64 UTF-8 *bytes* (:data:`MAX_CN_BYTES`): RFC 5280 counts characters,
  but pyca/cryptography refuses more bytes, so 22 Hangul syllables are already too many;
* a holder name holds no character the NPKI folder name would have to escape
  (``, + = ; " < > #`` and the backslash), no slash, no parentheses and no control
  character, so every name that passes :func:`check_holder_name` has a folder that
  :func:`check_folder_name` accepts;
* a folder name holds at most 255 bytes (what file systems allow) and no separator.
"""

from __future__ import annotations

import functools
import unicodedata

from cryptography import x509
from cryptography.x509.oid import NameOID

from .errors import InvalidNameError

__all__ = [
    "MAX_CN_BYTES",
    "MAX_FOLDER_NAME_BYTES",
    "MAX_NAME_LENGTH",
    "build_name",
    "check_common_name",
    "check_folder_name",
    "check_holder_name",
    "npki_folder_name",
]

MAX_CN_BYTES = 64
"""pyca/cryptography's limit on a CN, in UTF-8 bytes (RFC 5280's ub-common-name is 64
characters; pyca counts bytes, so the stricter reading is the one a CN must pass)."""
MAX_NAME_LENGTH = 30
"""A generic bound on a holder name in characters; whether a name fits a CA's CN is
decided with the CA's template (:func:`pki.authority.check_subscriber_names`)."""
MAX_FOLDER_NAME_BYTES = 255

_SHORT = {
    NameOID.COUNTRY_NAME: "c",
    NameOID.ORGANIZATION_NAME: "o",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "ou",
    NameOID.COMMON_NAME: "cn",
    NameOID.SERIAL_NUMBER: "serialnumber",
}

# Characters that would break an NPKI folder name or a CN's "(...)" shape: path
# separators, parentheses, and every character an RFC 4514 folder name escapes.
_FORBIDDEN = set('/\\()\x00,+=;"<>#')


@functools.lru_cache(maxsize=4096)
def check_holder_name(name: str, *, field: str = "name") -> str:
    """Validate a holder's real name (or its romanised alias) and return it NFC-normalised.

    Raises :class:`InvalidNameError` if it is empty, longer than ``MAX_NAME_LENGTH``
    characters, has surrounding white space, or holds control characters, slashes,
    parentheses or a character an NPKI folder name would escape (``, + = ; " < > #``).
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
            f"the {field} is {len(norm)} characters; at most {MAX_NAME_LENGTH} are allowed",
            name=name,
        )
    bad = sorted({c for c in norm if c in _FORBIDDEN or unicodedata.category(c)[0] == "C"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidNameError(f"the {field} contains characters not allowed: {shown}",
                               name=name)
    return norm


def check_common_name(common_name: str, *, name: str | None = None) -> str:
    """Return ``common_name`` if it fits a certificate (1 to :data:`MAX_CN_BYTES` UTF-8
    bytes); :class:`InvalidNameError` naming ``name`` (the holder's name) otherwise."""
    size = len(common_name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_CN_BYTES:
        raise InvalidNameError(
            f"the CN would be {size} bytes of UTF-8 ({len(common_name)} characters); a "
            f"certificate holds at most {MAX_CN_BYTES} bytes", name=common_name if name is None
            else name)
    return common_name


def build_name(*, country: str, organization: str, units: tuple[str, ...] = (),
               common_name: str) -> x509.Name:
    """C, O, OU..., CN as single-attribute RDNs, in that order."""
    check_common_name(common_name)
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


def check_folder_name(name: str) -> str:
    """Return ``name`` if it can be one folder's name on every file system NPKI software
    runs on; :class:`InvalidNameError` otherwise (a separator, NUL, ``.``/``..``, or more
    than :data:`MAX_FOLDER_NAME_BYTES` bytes)."""
    if name in ("", ".", ".."):
        raise InvalidNameError(f"{name!r} is not a folder name", name=name)
    bad = sorted({c for c in name if c in "/\\\x00"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidNameError(f"a folder name cannot hold {shown}", name=name)
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_FOLDER_NAME_BYTES:
        raise InvalidNameError(
            f"the folder name would be {size} bytes; file systems allow "
            f"{MAX_FOLDER_NAME_BYTES}", name=name[:40] + "...")
    return name


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
