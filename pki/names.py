"""Distinguished names in the shapes Korean CAs use (korean-pki.md sections 2 and 6).

Subject attributes go in the order real certificates use (C, O, OU..., CN); C is a
PrintableString and every other attribute a UTF8String, which is pyca's default for each.

The rules a name must pass to become a certificate and an NPKI folder live here, once:

* a CN holds at most 64 UTF-8 *bytes* (:data:`MAX_CN_BYTES`): RFC 5280 counts characters,
  but pyca/cryptography refuses more bytes, so 22 Hangul syllables are already too many;
* a folder name (:func:`check_folder_name`) is one that Windows, macOS and Linux all
  accept, since NPKI folders travel on USB drives: none of Windows' reserved characters
  (:data:`RESERVED_CHARACTERS`, which hold the separators of every system), no control
  character, no trailing dot or space (Windows drops them), not ``.`` or ``..``, not a
  device name such as ``CON`` or ``LPT1`` (:data:`RESERVED_DEVICE_NAMES`, with or
  without an extension), at most 255 bytes;
* a holder name (:func:`check_holder_name`) holds a letter, and no character that would
  break its NPKI folder: none of :data:`RESERVED_CHARACTERS`, none that the folder name
  would escape (``, + = ; " < > #``, which NPKI software cannot open), no parentheses
  (the CN's alias marks) and no control or invisible character. So every name that
  passes has a folder that :func:`check_folder_name` accepts.

Errors are :class:`InvalidNameError` with ``rule`` one of ``"empty"``, ``"spaces"``,
``"too-long"``, ``"no-letter"``, ``"reserved-character"``, ``"escaped-character"``,
``"parenthesis"``, ``"control-character"``, ``"dot-name"``, ``"trailing-dot-or-space"``
or ``"reserved-device-name"``, and ``characters`` the characters at fault.
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
    "RESERVED_CHARACTERS",
    "RESERVED_DEVICE_NAMES",
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

RESERVED_CHARACTERS = frozenset('<>:"/\\|?*')
"""Characters Windows refuses in a file or folder name; ``/`` is macOS' and Linux's
separator, and Finder shows ``:`` as ``/``."""
RESERVED_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"})
"""Windows device names: no file or folder may be called so, whatever the case, with or
without an extension (``nul.txt``, ``Con .der``)."""

_ESCAPED = frozenset(',+=;"<>#\\')
"""Characters an RFC 4514 folder name escapes: NPKI software cannot open such folders."""
_PARENTHESES = frozenset("()")


def _shown(chars: set[str] | frozenset[str]) -> str:
    return ", ".join(repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in sorted(chars))


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "C"


@functools.lru_cache(maxsize=4096)
def check_holder_name(name: str, *, field: str = "name") -> str:
    """Validate a holder's real name (or its romanised alias) and return it NFC-normalised.

    Raises :class:`InvalidNameError` if it is empty, longer than ``MAX_NAME_LENGTH``
    characters, has surrounding white space, has no letter (``..`` is no one's name), or
    holds a character its NPKI folder could not hold (see the module documentation).
    """
    if not isinstance(name, str):
        raise TypeError(f"{field} must be a str")
    norm = unicodedata.normalize("NFC", name)
    if not norm or not norm.strip():
        raise InvalidNameError(f"the {field} is empty", name=name, rule="empty")
    if norm != norm.strip():
        raise InvalidNameError(f"the {field} has leading or trailing spaces", name=name,
                               rule="spaces")
    if len(norm) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"the {field} is {len(norm)} characters; at most {MAX_NAME_LENGTH} are allowed",
            name=name, rule="too-long")
    groups = [
        ("reserved-character", {c for c in norm if c in RESERVED_CHARACTERS},
         "Windows does not allow them in a folder name, and the NPKI folder is named after "
         "the holder"),
        ("escaped-character", {c for c in norm if c in _ESCAPED} - RESERVED_CHARACTERS,
         "the NPKI folder name would have to escape them, and NPKI software cannot open "
         "such folders"),
        ("parenthesis", {c for c in norm if c in _PARENTHESES},
         "the CN puts the alias between parentheses"),
        ("control-character", {c for c in norm if _invisible(c)},
         "control and invisible characters"),
    ]
    found = [(rule, chars, why) for rule, chars, why in groups if chars]
    if found:
        every = set().union(*(chars for _, chars, _ in found))
        reasons = "; ".join(f"{_shown(chars)}: {why}" for _, chars, why in found)
        raise InvalidNameError(
            f"the {field} contains characters not allowed: {reasons}", name=name,
            rule=found[0][0], characters=tuple(sorted(every)))
    if not any(unicodedata.category(c)[0] == "L" for c in norm):
        raise InvalidNameError(f"the {field} has no letter: {norm!r} is not a name",
                               name=name, rule="no-letter")
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
    """Return ``name`` if Windows, macOS and Linux all accept it as one folder's name;
    :class:`InvalidNameError` saying which character or rule it breaks otherwise (see the
    module documentation)."""
    if not name:
        raise InvalidNameError("a folder name cannot be empty", name=name, rule="empty")
    if name in (".", ".."):
        raise InvalidNameError(f"{name!r} is not a folder name: it names a folder already",
                               name=name, rule="dot-name")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_FOLDER_NAME_BYTES:
        raise InvalidNameError(
            f"the folder name would be {size} bytes; file systems allow "
            f"{MAX_FOLDER_NAME_BYTES}", name=name[:40] + "...", rule="too-long")
    reserved = {c for c in name if c in RESERVED_CHARACTERS}
    if reserved:
        raise InvalidNameError(
            f"a folder name cannot hold {_shown(reserved)}: Windows does not allow them",
            name=name, rule="reserved-character", characters=tuple(sorted(reserved)))
    control = {c for c in name if ord(c) < 0x20}
    if control:
        raise InvalidNameError(
            f"a folder name cannot hold control characters ({_shown(control)})",
            name=name, rule="control-character", characters=tuple(sorted(control)))
    if name[-1] in ". ":
        what = "dot" if name[-1] == "." else "space"
        raise InvalidNameError(
            f"a folder name cannot end with a {what}: Windows drops it, so the folder would "
            "be another one", name=name, rule="trailing-dot-or-space",
            characters=(name[-1],))
    device = name.partition(".")[0].rstrip(" ").upper()
    if device in RESERVED_DEVICE_NAMES:
        raise InvalidNameError(
            f"{name!r} is a device name on Windows ({device}), which no folder may have, "
            "with or without an extension", name=name, rule="reserved-device-name")
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
