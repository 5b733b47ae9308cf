"""PKCS #11 URIs (RFC 7512), parsed strictly: what ``kpki init --ca-keys pkcs11:…`` names.

A URI names a token (and, for one key, an object in it) and the module that reaches it::

    pkcs11:token=kpki-ca?module-path=/usr/lib/softhsm/libsofthsm2.so
    pkcs11:token=kpki-ca;object=yessign%2Focsp;type=private?module-path=/usr/lib/…

The path attributes (``;``-separated) and query attributes (``&``-separated) are RFC 7512's
(section 2.3). kpki is stricter than the RFC where leniency would hide a mistake:

* an attribute kpki does not know (vendor ``x-`` attributes included), one given twice,
  one without ``=`` or with an empty value, and an attribute name in capitals are refused;
* values are percent-decoded (UTF-8, except ``id``, which is bytes); a character a URI may
  not hold or a broken ``%`` escape is refused;
* ``pin-value`` is refused: a URI is given on the command line and stored in the home, and a
  PIN belongs in neither (kpki reads it from a prompt, ``--pin-file`` or ``$KPKI_CA_PIN``,
  like every other secret). ``pin-source`` is refused for the same reason; ``module-name`` because
  kpki loads a module by its path only.

:class:`PKCS11URIError` names the attribute at fault. No library parses RFC 7512 URIs
(python-pkcs11 does not), and the grammar is small, so it is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote_to_bytes

from ..errors import PKCS11URIError

__all__ = ["OBJECT_TYPES", "PKCS11URI", "parse_uri"]

SCHEME = "pkcs11:"

_PATH = ("token", "manufacturer", "serial", "model", "library-manufacturer",
         "library-description", "library-version", "object", "type", "id",
         "slot-description", "slot-manufacturer", "slot-id")
_QUERY = ("module-path",)
_REFUSED = {
    "pin-value": "a PIN is never given in a URI: kpki reads it from a prompt, "
                 "--pin-file or $KPKI_CA_PIN",
    "pin-source": "kpki reads the PIN from a prompt, --pin-file or $KPKI_CA_PIN, not "
                  "from pin-source",
    "module-name": "give the module's file with module-path",
}
OBJECT_TYPES = ("public", "private", "cert", "secret-key", "data")
"""The values of the ``type`` attribute (RFC 7512 section 2.3)."""

# RFC 7512 pk11-pchar / pk11-qchar: unreserved, a few sub-delims, ":" "[" "]" "@" "&" (path)
# or "/" "?" "|" ";" (query), and pct-encoded octets.
_PCHAR = re.compile(r"^(?:[A-Za-z0-9\-._~:\[\]@!$'()*+,=&]|%[0-9A-Fa-f]{2})*$")
_QCHAR = re.compile(r"^(?:[A-Za-z0-9\-._~:\[\]@!$'()*+,=/?|;]|%[0-9A-Fa-f]{2})*$")
_VERSION = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3})?$")


@dataclass(frozen=True)
class PKCS11URI:
    """A parsed PKCS #11 URI. ``str()`` gives it back in its canonical form (attributes in
    RFC order, values percent-encoded where needed)."""

    token: str | None = None
    """The token's label (CKA_LABEL of the token, ``token=``)."""
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    library_manufacturer: str | None = None
    library_description: str | None = None
    library_version: str | None = None
    object: str | None = None
    """An object's CKA_LABEL."""
    type: str | None = None
    """An object's class, one of :data:`OBJECT_TYPES`."""
    id: bytes | None = None
    """An object's CKA_ID."""
    slot_description: str | None = None
    slot_manufacturer: str | None = None
    slot_id: int | None = None
    module_path: str | None = None
    """The PKCS #11 module (shared library) to load."""

    def with_object(self, label: str, *, id: bytes | None = None,
                    type: str = "private") -> PKCS11URI:
        """This URI naming the object labelled ``label`` in its token."""
        return replace(self, object=label, id=id, type=type)

    def token_only(self) -> PKCS11URI:
        """This URI without the object attributes."""
        return replace(self, object=None, id=None, type=None)

    def __str__(self) -> str:
        path = []
        for name in _PATH:
            value = getattr(self, name.replace("-", "_"))
            if value is None:
                continue
            if isinstance(value, bytes):
                text = "".join(f"%{b:02x}" for b in value)
            else:
                text = quote(str(value), safe="-._~:[]@!$'()*+,&")
            path.append(f"{name}={text}")
        query = [] if self.module_path is None else [
            "module-path=" + quote(self.module_path, safe="-._~:[]@!$'()*+,/|")]
        return SCHEME + ";".join(path) + ("?" + "&".join(query) if query else "")


def parse_uri(text: str) -> PKCS11URI:
    """``text`` as a :class:`PKCS11URI`; :class:`PKCS11URIError` naming the attribute (or
    the part) at fault otherwise."""
    if not text.startswith(SCHEME):
        raise PKCS11URIError(f"{_shown(text)} is not a PKCS #11 URI: it starts with "
                             f"{SCHEME!r} (pkcs11:token=LABEL?module-path=FILE)",
                             attribute="scheme")
    rest = text[len(SCHEME):]
    if "#" in rest:
        raise PKCS11URIError("a PKCS #11 URI has no fragment ('#')", attribute="fragment")
    path_text, has_query, query_text = rest.partition("?")
    values: dict[str, object] = {}
    for part, separator, known, chars in ((path_text, ";", _PATH, _PCHAR),
                                          (query_text, "&", _QUERY, _QCHAR)):
        if not part:
            if separator == "&" and has_query:
                raise PKCS11URIError("the PKCS #11 URI ends in '?' with no query attribute",
                                     attribute="query")
            continue
        for item in part.split(separator):
            name, eq, raw = item.partition("=")
            _check_name(name, eq, raw, known=known, query=separator == "&")
            if name in values:
                raise PKCS11URIError(f"{name!r} is given twice in the PKCS #11 URI",
                                     attribute=name)
            if not chars.match(raw):
                raise PKCS11URIError(f"the value of {name!r} holds a character a PKCS #11 URI "
                                     "may not hold, or a broken %-escape (percent-encode it)",
                                     attribute=name)
            values[name] = _value(name, raw)
    return PKCS11URI(**{name.replace("-", "_"): value  # type: ignore[arg-type]
                        for name, value in values.items()})


def _check_name(name: str, eq: str, raw: str, *, known: tuple[str, ...], query: bool) -> None:
    where = "query" if query else "path"
    if not name:
        raise PKCS11URIError(f"an empty attribute in the PKCS #11 URI's {where} (a stray "
                             f"{'&' if query else ';'}?)", attribute="")
    if name in _REFUSED:
        raise PKCS11URIError(f"{name!r} is not accepted in a PKCS #11 URI: {_REFUSED[name]}",
                             attribute=name)
    if name not in known:
        other = _QUERY if not query else _PATH
        if name in other:
            raise PKCS11URIError(f"{name!r} is a {'path' if query else 'query'} attribute of "
                                 f"the PKCS #11 URI ({'before' if query else 'after'} '?')",
                                 attribute=name)
        hint = " (attribute names are lower case)" if name.lower() in (*_PATH, *_QUERY) else ""
        raise PKCS11URIError(f"unknown PKCS #11 URI attribute {name!r}{hint}; known: "
                             f"{', '.join((*_PATH, *_QUERY))}", attribute=name)
    if not eq:
        raise PKCS11URIError(f"{name!r} has no value in the PKCS #11 URI ({name}=…)",
                             attribute=name)
    if not raw:
        raise PKCS11URIError(f"{name!r} is empty in the PKCS #11 URI", attribute=name)


def _value(name: str, raw: str) -> object:
    octets = unquote_to_bytes(raw)
    if name == "id":
        return octets
    try:
        value = octets.decode("utf-8")
    except UnicodeDecodeError:
        raise PKCS11URIError(f"the value of {name!r} is not UTF-8", attribute=name) from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise PKCS11URIError(f"the value of {name!r} holds a control character",
                             attribute=name)
    if name == "type" and value not in OBJECT_TYPES:
        raise PKCS11URIError(f"type {value!r} is not one of {', '.join(OBJECT_TYPES)}",
                             attribute=name)
    if name == "slot-id":
        if not value.isascii() or not value.isdigit():
            raise PKCS11URIError(f"slot-id {value!r} is not a decimal number",
                                 attribute=name)
        return int(value)
    if name == "library-version" and not _VERSION.match(value):
        raise PKCS11URIError(f"library-version {value!r} is not M or M.N", attribute=name)
    if name == "module-path" and not value.startswith("/"):
        raise PKCS11URIError(f"module-path {value!r} is not an absolute path",
                             attribute=name)
    return value


def _shown(text: str) -> str:
    """``text`` for a message: short, and never a PIN that follows ``pin-value=`` (in any
    case, its ``-`` maybe %-escaped: a URI refused for its scheme was not parsed)."""
    text = re.sub(r"(pin(?:-|%2d)value=)[^&;]*", r"\1***", text, flags=re.IGNORECASE)
    return repr(text if len(text) <= 80 else text[:77] + "...")
