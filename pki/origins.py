"""Web origins as a browser sends them in its ``Origin`` header: the one reading that the
SDK's allow-list (:mod:`pki.cloud.sdk`) and the signing agent's
(:mod:`pki.agent.settings`) share, so an origin allowed is one a page can have.

A browser writes ``scheme://host[:port]``: ``http`` or ``https``, the host in lower case,
a domain name in its ASCII form (``https://민원.kr`` is sent as ``https://xn--lg3b21r.kr``),
an IPv6 address in brackets, compressed and without a zone, the port only when it is not
the scheme's default, and nothing else: no path, query, fragment or user. What is given is
read leniently where the meaning is plain (upper case, the default port, one trailing
``/``, spaces around it) and refused where no browser would send it: a wildcard, ``null``
(the origin of sandboxed frames and local files, which any page can take on), a host with
a space, a ``%`` or non-ASCII letters, a port out of range.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from .errors import InvalidOriginError

__all__ = ["MAX_ORIGIN_LENGTH", "normalise_origin"]

MAX_ORIGIN_LENGTH = 300
"""Longer than any origin can be (a domain name is at most 253 characters)."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


def _joined(scheme: str, host: str, port: int | None) -> str:
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalise_origin(text: object) -> str:
    """``text`` as a browser's ``Origin`` header gives it. Raises
    :class:`InvalidOriginError` (its ``reason`` says why; ``ascii_form`` is the origin to
    give instead when the host is a domain name written in Korean or other letters)."""
    if not isinstance(text, str):
        raise InvalidOriginError(repr(text), "an origin is text")
    given = text.strip()
    if len(given) > MAX_ORIGIN_LENGTH:
        raise InvalidOriginError(given[:40] + "...", "it is longer than any origin")
    if "*" in given or given.lower() == "null":
        raise InvalidOriginError(given, "name each page's origin (scheme://host[:port]), "
                                        "no wildcard or null")
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError:
        raise InvalidOriginError(given, "its host or port cannot be read") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidOriginError(given, "it needs http:// or https:// and a host")
    if (parts.path not in ("", "/") or parts.query or parts.fragment or "#" in given
            or "?" in given or parts.username is not None or parts.password is not None):
        raise InvalidOriginError(given, "an origin is scheme://host[:port] only, no path, "
                                        "query or user")
    if port == 0:
        raise InvalidOriginError(given, "port 0 is no port a page is served from")
    host = parts.hostname
    if not host.isascii():
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidOriginError(given, "its host is no domain name") from None
        ascii_form = _joined(parts.scheme, ascii_host, port)
        raise InvalidOriginError(given, "browsers send a domain name in its ASCII form: "
                                        f"allow {ascii_form}", ascii_form=ascii_form)
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            address = None
        if address is None or address.scope_id:
            raise InvalidOriginError(given, "its host is no IPv6 address a browser sends")
        host = f"[{address.compressed}]"
    elif not _HOST.fullmatch(host):
        raise InvalidOriginError(given, "its host is no name a browser sends (letters, "
                                        "digits, '.', '-', '_')")
    return _joined(parts.scheme, host, port)
