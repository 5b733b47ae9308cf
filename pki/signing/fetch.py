"""Fetching revocation data (CRLs, OCSP) over HTTP: one deadline and a size cap per fetch.

A verifier that fetches URLs named in certificates must not become a tool for whoever
wrote those certificates. The verifier fetches only for certificates whose chain already
validates (:mod:`pki.signing.verify`); this module bounds each fetch:

* **one deadline for the whole fetch** (connecting, sending, headers and body together),
  not per read: a server dripping one byte every two seconds is cut off when the deadline
  passes. A watchdog timer shuts the socket down at the deadline, whatever call is
  blocked on it;
* **a size cap**: a declared Content-Length above the cap is refused before the body is
  read, and an undeclared body is read only up to the cap;
* http and https only, no redirects followed, no proxies from the environment.

Every failure is a :class:`pki.errors.FetchError` carrying the URL. The same function
fetches CRLs and OCSP answers for the verifiers (:mod:`pki.signing.verify`,
:mod:`pki.timestamp.verify`) and posts time-stamp requests for ``kpki sign --timestamp``
(:func:`pki.timestamp.protocol.post`).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from urllib.parse import urlsplit

from ..errors import FetchError

__all__ = ["DEFAULT_DEADLINE", "MAX_FETCH_BYTES", "OCSP_REQUEST_TYPE", "fetch"]

DEFAULT_DEADLINE = 10.0
"""Seconds one fetch may take, from the connection to the last byte, unless the caller
gives its own (read at each call, so an application or a test can change it)."""
MAX_FETCH_BYTES = 64 * 1024 * 1024
"""The largest answer read (a 1,000,000-entry CRL is about 40 MB)."""
OCSP_REQUEST_TYPE = "application/ocsp-request"


def fetch(url: str, body: bytes | None = None, *, deadline: float | None = None,
          max_bytes: int = MAX_FETCH_BYTES, content_type: str = OCSP_REQUEST_TYPE,
          accept: str = "*/*") -> bytes:
    """GET ``url`` (or POST ``body`` to it, an OCSP request unless ``content_type`` says
    otherwise) and return the answer's body.

    Raises :class:`FetchError` for a URL that is not http(s), a connection failure, no
    whole answer within ``deadline`` seconds (default :data:`DEFAULT_DEADLINE`), a status
    other than 200, or a body over ``max_bytes``.
    """
    if deadline is None:
        deadline = DEFAULT_DEADLINE
    host, port, secure = _parse(url)
    target = _target(url)
    connection: http.client.HTTPConnection
    if secure:
        connection = http.client.HTTPSConnection(host, port, timeout=deadline,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=deadline)
    expired = threading.Event()
    sockets: list[socket.socket] = []
    # Held here, not read from the connection when the time comes: http.client hands the
    # socket over to the response (and forgets it) once the server says it will close.

    def cut() -> None:
        expired.set()
        for sock in sockets:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    response: http.client.HTTPResponse | None = None
    watchdog = threading.Timer(deadline, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()  # bounded by its own timeout, the deadline
        if connection.sock is not None:
            sockets.append(connection.sock)
        if expired.is_set():
            raise FetchError(_late(url, deadline), url=url)
        headers = {"Accept": accept, "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = content_type
        connection.request("POST" if body is not None else "GET", target, body=body,
                           headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise FetchError(f"{url} answered {response.status} {response.reason}", url=url)
        declared = response.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url} offers {int(declared)} bytes, more than the "
                             f"{max_bytes} allowed", url=url)
        data = response.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FetchError(f"{url} sent more than the {max_bytes} bytes allowed", url=url)
        if expired.is_set():
            raise FetchError(_late(url, deadline), url=url)
        return bytes(data)
    except FetchError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise FetchError(_late(url, deadline), url=url) from None
        raise FetchError(f"cannot fetch {url}: {exc}", url=url) from None
    finally:
        watchdog.cancel()
        if response is not None:
            response.close()
        connection.close()


def _late(url: str, deadline: float) -> str:
    return f"{url} did not answer in full within {deadline:g} s"


def _parse(url: str) -> tuple[str, int, bool]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(f"not a URL: {url!r}", url=url) from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http(s) URLs are fetched, not {url!r}", url=url)
    if not parts.hostname:
        raise FetchError(f"the URL {url!r} names no host", url=url)
    secure = parts.scheme == "https"
    return parts.hostname, port or (443 if secure else 80), secure


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
