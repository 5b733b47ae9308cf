"""The signing agent's rules, without HTTP: requests, their tokens, the dialog, signing.

A request goes through these steps (:class:`SigningAgent`):

1. A page on an allowed origin **opens** it (:meth:`~SigningAgent.open`) with what to sign
   (:class:`SignOrder`, checked first: the content's encoding and size, the site's
   certificate to envelope to). The agent shows one dialog at a time: while another
   request is open the answer is ``busy``. Two unguessable tokens come back: the
   *caller's*, with which the page (and only from its origin) learns the outcome or
   cancels, and the *dialog's*, which the agent's own dialog page uses.
2. The dialog **views** it (:meth:`~SigningAgent.view`): what will be signed (each
   content decoded as its encoding, or its size and SHA-256), the site's origin and its
   stated purpose, the storage locations and the certificates found there
   (:func:`pki.keys.discovery.scan`), kept with the request, so the user can only choose
   among what was shown.
3. The user **confirms** with a certificate and its password (:meth:`~SigningAgent.confirm`)
   or **cancels** (:meth:`~SigningAgent.dismiss`). Only a confirmation signs, once per
   request: a request answered (signed, cancelled, expired) answers nothing more. A wrong
   password leaves the request open and is counted for that certificate in that request;
   an NPKI ``signPri.key`` keeps no counter of its own, so nothing beyond the request
   counts it and nothing locks the file (:attr:`NPKI_KEYS_COUNT_WRONG_PASSWORDS`).
4. The page **collects** the outcome (:meth:`~SigningAgent.outcome`, which may wait for
   it): signed (the signature, the certificate, R when asked for), cancelled or expired.

A request expires ``request_ttl`` after it was opened, on the injected clock. Tokens are
drawn from the injected entropy and compared in constant time; a token that is not the
request's is answered like an unknown request. The password is an argument of
:meth:`~SigningAgent.confirm` and nothing else: it is not kept, logged or returned.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
import hmac
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import Clock
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    AgentBusyError,
    AgentExpiredError,
    AgentKeyError,
    AgentNotFoundError,
    AgentOriginError,
    AgentPasswordError,
    AgentRequestError,
    AgentStateError,
    KeyFileError,
    KeyMismatchError,
    WrongPasswordError,
)
from ..keys import npki
from ..keys.discovery import CertificateStatus, NPKIEntry, scan
from ..parsing import load_certificate
from ..signing import KeySigner, seal_r, sign
from .settings import AgentSettings, Location

__all__ = [
    "ENCODINGS",
    "KEPT_ANSWERED",
    "MAX_PURPOSE_LENGTH",
    "MAX_TEXTS",
    "MIN_ENVELOPE_KEY_BITS",
    "NPKI_KEYS_COUNT_WRONG_PASSWORDS",
    "Offered",
    "Opened",
    "Outcome",
    "Shown",
    "SignOrder",
    "SignResult",
    "SigningAgent",
    "State",
    "content_of",
    "contents_of",
    "encoding_of",
    "envelope_recipient",
]

ENCODINGS = {"UTF-8": "utf-8", "EUC-KR": "cp949"}
"""The text encodings a page may ask for, and Python's codec for each. ``EUC-KR`` is
encoded as browsers encode it (the WHATWG Encoding Standard's ``EUC-KR`` is Windows code
page 949, the superset Korean government sites actually send)."""

MAX_TEXTS = 100
"""The most texts one request signs (one confirmation, a signature each)."""
MAX_PURPOSE_LENGTH = 200
"""The longest ``purpose`` a page may give (characters)."""
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories a purpose may not hold: control and format characters (line breaks,
escapes, the bidirectional overrides that show text in another order than it is, the
zero-width ones), surrogates, private-use and unassigned code points. The dialog shows the
purpose on one line as the site's words; none of these shows as what it is."""
MIN_ENVELOPE_KEY_BITS = 1024
"""The smallest RSA key of a site's certificate the agent envelopes to (a key too small
to carry the content key would fail only at the user's OK)."""
NPKI_KEYS_COUNT_WRONG_PASSWORDS = False
"""An NPKI ``signPri.key`` is only encrypted under the password: it holds no counter, so a
wrong password is counted in the request (shown in the dialog) and locks nothing."""
_TOKEN_BYTES = 32
_ID_BYTES = 12
_USABLE = (CertificateStatus.VALID, CertificateStatus.EXPIRING)
KEPT_ANSWERED = 32
"""Answered requests kept for their pages to collect (the oldest go first beyond it, and
each goes a lifetime after it expired): a page opening and cancelling in a loop cannot
fill the agent's memory."""


class State(enum.Enum):
    PENDING = "pending"
    """Waiting for the user's answer in the dialog."""
    SIGNING = "signing"
    """Confirmed: the key is being opened and the signature made."""
    SIGNED = "signed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in (State.SIGNED, State.CANCELLED, State.EXPIRED)


def contents_of(*, text: str | None, texts: list[str] | None, encoding: str | None,
                b64: str | None, limit: int) -> tuple[bytes, ...]:
    """The bytes to sign, one content or several: ``texts`` (each in ``encoding``, at most
    :data:`MAX_TEXTS`, ``limit`` bytes in all), or one content as :func:`content_of` reads
    it. Raises :class:`AgentRequestError` naming the field (``content.texts[1]``)."""
    if texts is None:
        return (content_of(text=text, encoding=encoding, b64=b64, limit=limit),)
    if text is not None or b64 is not None:
        raise AgentRequestError("give the content as text, texts or base64: one of them",
                                field="content")
    if not 1 <= len(texts) <= MAX_TEXTS:
        raise AgentRequestError(f"give from 1 to {MAX_TEXTS} texts", field="content.texts")
    encoded: list[bytes] = []
    for n, one in enumerate(texts):
        encoded.append(_encoded(one, encoding, limit - sum(map(len, encoded)),
                                field=f"content.texts[{n}]", size_field="content.texts",
                                limit=limit))
    return tuple(encoded)


def content_of(*, text: str | None, encoding: str | None, b64: str | None,
               limit: int) -> bytes:
    """The bytes to sign: ``text`` in ``encoding`` (``UTF-8`` or ``EUC-KR``, any case), or
    ``b64`` decoded; exactly one of the two (:func:`encoding_of` names the text's encoding
    for :class:`SignOrder`). Raises :class:`AgentRequestError`
    (``bad_request``, ``unsupported_encoding``, ``too_large``) naming the field."""
    if (text is None) == (b64 is None):
        raise AgentRequestError("give the content as text (with its encoding) or as base64",
                                field="content")
    if b64 is not None:
        if len(b64) > (limit + 2) // 3 * 4 + 4:
            raise _too_large(limit, "content.base64")
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise AgentRequestError("the content is not base64", field="content.base64"
                                    ) from None
        if len(data) > limit:
            raise _too_large(limit, "content.base64")
        return data
    assert text is not None
    return _encoded(text, encoding, limit, field="content.text", size_field="content.text",
                    limit=limit)


def _encoded(text: str, encoding: str | None, room: int, *, field: str, size_field: str,
             limit: int) -> bytes:
    """``text`` in ``encoding`` if it fits in ``room`` bytes (of ``limit`` in all)."""
    codec = _codec(encoding)
    if len(text) > room:
        raise _too_large(limit, size_field)
    try:
        data = text.encode(codec)
    except UnicodeEncodeError as exc:
        raise AgentRequestError(f"the text holds {exc.object[exc.start:exc.end]!r}, which "
                                f"{encoding} cannot encode", field=field) from None
    if len(data) > room:
        raise _too_large(limit, size_field)
    return data


def _codec(encoding: str | None) -> str:
    """Python's codec for ``encoding`` (a name in :data:`ENCODINGS`, any case; None is
    ``UTF-8``); :class:`AgentRequestError` ``unsupported_encoding`` for another."""
    codec = ENCODINGS.get((encoding or "UTF-8").upper())
    if codec is None:
        raise AgentRequestError(f"the agent encodes text as {' or '.join(ENCODINGS)}, not "
                                f"{encoding!r}", field="content.encoding",
                                code="unsupported_encoding")
    return codec


def encoding_of(*, b64: str | None, encoding: str | None) -> str | None:
    """The name in :data:`ENCODINGS` of a text content's encoding (``UTF-8`` when none is
    given); None for binary content (given as ``b64``)."""
    if b64 is not None:
        return None
    return (encoding or "UTF-8").upper()


def _too_large(limit: int, field: str) -> AgentRequestError:
    return AgentRequestError(f"the content is larger than {limit} bytes", field=field,
                             code="too_large", limit=limit)


def envelope_recipient(pem: str) -> x509.Certificate:
    """The site's certificate to envelope the signature to, from its PEM; it must hold an
    RSA key of :data:`MIN_ENVELOPE_KEY_BITS` bits or more. Raises
    :class:`AgentRequestError` (field ``envelopeTo``)."""
    try:
        cert = load_certificate(pem.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        raise AgentRequestError("envelopeTo is not a PEM certificate", field="envelopeTo"
                                ) from None
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):  # a key pyca cannot read (KCDSA, say)
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise AgentRequestError("envelopeTo's certificate has no RSA key", field="envelopeTo")
    if key.key_size < MIN_ENVELOPE_KEY_BITS:
        raise AgentRequestError(f"envelopeTo's RSA key has {key.key_size} bits; the agent "
                                f"envelopes to keys of {MIN_ENVELOPE_KEY_BITS} bits or more",
                                field="envelopeTo")
    return cert


@dataclass(frozen=True)
class SignOrder:
    """What a page asks to have signed, checked."""

    content: bytes = field(repr=False)
    encoding: str | None = None
    """The content is text in this encoding (a name in :data:`ENCODINGS`): the dialog shows
    it decoded. None: binary content, shown as its size and SHA-256."""
    more: tuple[bytes, ...] = field(default=(), repr=False)
    """Further contents (in the same encoding) signed with the same confirmation: one
    signature each, after the first, in this order."""
    attached: bool = True
    """The content inside the SignedData (false: detached)."""
    include_r: bool = False
    """Return R, the VID's random number, with the signature."""
    pss: bool = False
    """RSASSA-PSS (SHA-256, MGF1-SHA-256) instead of PKCS #1 v1.5."""
    envelope_to: x509.Certificate | None = None
    """Envelope the signature (and R) to this site's certificate."""
    purpose: str = ""
    """What the site says the user signs for, shown in the dialog as the site's words: at
    most :data:`MAX_PURPOSE_LENGTH` characters, none of them a control or format
    character."""

    def __post_init__(self) -> None:
        if len(self.purpose) > MAX_PURPOSE_LENGTH:
            raise AgentRequestError(f"the purpose is longer than {MAX_PURPOSE_LENGTH} "
                                    "characters", field="purpose")
        unshown = next((c for c in self.purpose if unicodedata.category(c) in _UNSHOWN),
                       None)
        if unshown is not None:
            raise AgentRequestError(f"the purpose holds U+{ord(unshown):04X}, a control or "
                                    "format character the dialog cannot show as it is",
                                    field="purpose")
        if len(self.more) >= MAX_TEXTS:
            raise AgentRequestError(f"one request signs at most {MAX_TEXTS} contents",
                                    field="content.texts")
        self.shown()

    @property
    def contents(self) -> tuple[bytes, ...]:
        """Every content, in the order their signatures come."""
        return (self.content, *self.more)

    def shown(self) -> tuple[Shown, ...]:
        """Each content as the dialog shows it. Raises :class:`AgentRequestError` when the
        encoding is none the agent knows or cannot read a content."""
        codec = None if self.encoding is None else _codec(self.encoding)
        shown = []
        for n, content in enumerate(self.contents):
            try:
                text = None if codec is None else content.decode(codec)
            except UnicodeDecodeError:
                raise AgentRequestError(f"the content is not {self.encoding} text",
                                        field=f"content.texts[{n}]" if self.more
                                        else "content.text") from None
            shown.append(Shown(text, self.encoding, len(content),
                               hashlib.sha256(content).hexdigest()))
        return tuple(shown)


@dataclass(frozen=True)
class Shown:
    """One content as the dialog shows it."""

    text: str | None
    """The content decoded as its encoding (all of it); None for binary content."""
    encoding: str | None
    size: int
    """Its length in bytes."""
    sha256: str
    """The SHA-256 of the bytes to be signed, in hex."""


@dataclass(frozen=True)
class Opened:
    """A request just opened: its id, the two tokens and when it expires."""

    request_id: str
    caller_token: str = field(repr=False)
    dialog_token: str = field(repr=False)
    expires_at: dt.datetime


@dataclass(frozen=True)
class Offered:
    """A certificate the dialog shows: its place in the list, the location it was found in
    and what discovery read."""

    index: int
    location: int
    entry: NPKIEntry

    @property
    def usable(self) -> bool:
        return self.entry.has_key and self.entry.status in _USABLE


@dataclass(frozen=True)
class SignResult:
    signatures: tuple[bytes, ...] = field(repr=False)
    """One per content, in the order of :attr:`SignOrder.contents`: DER CMS SignedData
    (ContentInfo), or ContentInfo(EnvelopedData) of it."""
    certificate: x509.Certificate
    r: bytes | None = field(repr=False)
    """R (20 bytes), or R enveloped to the site when the signature is."""
    enveloped: bool

    @property
    def signature(self) -> bytes:
        """The first content's signature (the only one of a request with one content)."""
        return self.signatures[0]


@dataclass(frozen=True)
class Outcome:
    state: State
    result: SignResult | None = None


@dataclass(frozen=True)
class DialogView:
    """What the dialog shows for a request."""

    request_id: str
    origin: str
    purpose: str
    """The site's words, checked to hold no control or format character."""
    contents: tuple[Shown, ...]
    """What will be signed, each content as it is shown."""
    include_r: bool
    enveloped: bool
    expires_at: dt.datetime
    locations: tuple[Location, ...]
    offered: tuple[Offered, ...]
    attempts: dict[int, int]
    """Wrong passwords so far in this request, by offered index."""
    counted_by_file: bool = NPKI_KEYS_COUNT_WRONG_PASSWORDS


@dataclass
class _Request:
    request_id: str
    origin: str
    caller_token: str = field(repr=False)
    dialog_token: str = field(repr=False)
    order: SignOrder
    expires_at: dt.datetime
    state: State = State.PENDING
    offered: tuple[Offered, ...] = ()
    attempts: dict[int, int] = field(default_factory=dict)
    result: SignResult | None = None
    withdrawn: bool = False
    """A cancel came while the signature was being made: if it is not made, the request
    ends cancelled (its window is gone; nothing would answer it)."""


class SigningAgent:
    """The agent's requests, in memory (they live minutes; nothing is written)."""

    def __init__(self, settings: AgentSettings, *, clock: Clock,
                 entropy: Entropy | None = None,
                 scanner: Callable[[Path, dt.datetime], list[NPKIEntry]] = scan) -> None:
        self.settings = settings
        self._clock = clock
        self._entropy = entropy or SystemEntropy()
        self._scan = scanner
        self._requests: dict[str, _Request] = {}
        self._changed = threading.Condition()
        self._closed = False

    # -- the calling page ------------------------------------------------------------------

    def check_origin(self, origin: str | None) -> str:
        """``origin`` when it is on the allow-list; :class:`AgentOriginError` otherwise."""
        if origin is None or origin not in self.settings.allowed_origins:
            raise AgentOriginError(origin)
        return origin

    def open(self, origin: str | None, order: SignOrder) -> Opened:
        """Open a request for ``order`` from a page on ``origin``. Raises
        :class:`AgentOriginError`, :class:`AgentBusyError` while another is open."""
        origin = self.check_origin(origin)
        now = self._clock.now()
        with self._changed:
            self._settle(now)
            if any(not r.state.final for r in self._requests.values()):
                raise AgentBusyError
            request = _Request(self._token(_ID_BYTES), origin, self._token(_TOKEN_BYTES),
                               self._token(_TOKEN_BYTES), order,
                               now + self.settings.request_ttl)
            self._requests[request.request_id] = request
        return Opened(request.request_id, request.caller_token, request.dialog_token,
                      request.expires_at)

    def outcome(self, request_id: str, *, origin: str | None, token: str,
                wait: float = 0.0) -> Outcome:
        """The request's outcome for the page that opened it; while pending, waits up to
        ``wait`` seconds for the answer (then answers pending). Raises
        :class:`AgentOriginError`, :class:`AgentNotFoundError`."""
        deadline = time.monotonic() + max(0.0, wait)
        with self._changed:
            request = self._caller_request(request_id, origin, token)
            while True:
                self._settle(self._clock.now())
                remaining = deadline - time.monotonic()
                if request.state.final or remaining <= 0 or self._closed:
                    break
                self._changed.wait(remaining)
            if request.state.final:
                return Outcome(request.state, request.result)
            return Outcome(State.PENDING)

    def cancel(self, request_id: str, *, origin: str | None, token: str) -> Outcome:
        """The page withdraws its request (its dialog was closed). Raises
        :class:`AgentStateError` ``already_answered`` if the user answered first, or
        ``in_progress`` while the user's OK is being signed: then the request ends
        cancelled if that signs nothing (a wrong password, a key that cannot be used)."""
        with self._changed:
            request = self._caller_request(request_id, origin, token)
            return self._cancel(request)

    # -- the dialog ------------------------------------------------------------------------

    def view(self, request_id: str, *, token: str) -> DialogView:
        """What the dialog shows: the certificates found in every location, now. Raises
        :class:`AgentNotFoundError`, :class:`AgentExpiredError`,
        :class:`AgentStateError`."""
        now = self._clock.now()
        with self._changed:
            request = self._dialog_request(request_id, token)
            self._check_open(request, now)
        offered: list[Offered] = []
        for n, location in enumerate(self.settings.locations):
            for entry in self._scan(location.path, now):
                offered.append(Offered(len(offered), n, entry))
        with self._changed:
            self._check_open(request, self._clock.now())
            request.offered = tuple(offered)
            order = request.order
            return DialogView(request.request_id, request.origin, order.purpose,
                              order.shown(), order.include_r,
                              order.envelope_to is not None, request.expires_at,
                              self.settings.locations, request.offered,
                              dict(request.attempts))

    def confirm(self, request_id: str, *, token: str, certificate: int,
                password: str) -> SignResult:
        """The user's OK: sign with the offered ``certificate`` opened by ``password``.

        Raises :class:`AgentPasswordError` (the request stays open, the wrong password
        counted), :class:`AgentKeyError` (the request stays open), or
        :class:`AgentNotFoundError`, :class:`AgentExpiredError`, :class:`AgentStateError`.
        """
        with self._changed:
            request = self._dialog_request(request_id, token)
            self._check_open(request, self._clock.now())
            if not 0 <= certificate < len(request.offered) \
                    or not request.offered[certificate].usable:
                raise AgentKeyError("choose one of the valid certificates the dialog shows",
                                    code="certificate_unusable")
            offered = request.offered[certificate]
            request.state = State.SIGNING
            order = request.order
        try:
            result = self._sign(order, offered, password)
        except WrongPasswordError:
            with self._changed:
                request.attempts[certificate] = request.attempts.get(certificate, 0) + 1
                self._reopen(request)
                attempts = request.attempts[certificate]
            raise AgentPasswordError(attempts=attempts,
                                     counted_by_file=NPKI_KEYS_COUNT_WRONG_PASSWORDS
                                     ) from None
        except BaseException:
            with self._changed:
                self._reopen(request)
            raise
        with self._changed:
            request.state, request.result = State.SIGNED, result
            self._changed.notify_all()
        return result

    def dismiss(self, request_id: str, *, token: str) -> Outcome:
        """The user's Cancel (or the dialog closed). Raises :class:`AgentStateError`
        ``already_answered`` once answered, ``in_progress`` as :meth:`cancel` does."""
        with self._changed:
            request = self._dialog_request(request_id, token)
            return self._cancel(request)

    def close(self) -> None:
        """Wake every page waiting for an outcome (the agent is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- inside ----------------------------------------------------------------------------

    def _token(self, n: int) -> str:
        return base64.urlsafe_b64encode(self._entropy.token_bytes(n)).decode().rstrip("=")

    def _find(self, request_id: str, token: str, kind: str) -> _Request:
        self._settle(self._clock.now())
        request = self._requests.get(request_id)
        if request is None:
            raise AgentNotFoundError
        expected = request.caller_token if kind == "caller" else request.dialog_token
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise AgentNotFoundError
        return request

    def _caller_request(self, request_id: str, origin: str | None, token: str) -> _Request:
        origin = self.check_origin(origin)
        request = self._find(request_id, token, "caller")
        if request.origin != origin:
            raise AgentNotFoundError
        return request

    def _dialog_request(self, request_id: str, token: str) -> _Request:
        return self._find(request_id, token, "dialog")

    def _check_open(self, request: _Request, now: dt.datetime) -> None:
        self._settle(now)
        if request.state is State.EXPIRED:
            raise AgentExpiredError(expired_at=request.expires_at)
        if request.state.final:
            raise AgentStateError("this request has been answered already",
                                  code="already_answered", state=request.state.value)
        if request.state is State.SIGNING:
            raise AgentStateError("this request is being signed", code="in_progress",
                                  state=request.state.value)

    def _reopen(self, request: _Request) -> None:
        """After a confirmation that signed nothing: open again, or cancelled when a cancel
        came meanwhile."""
        request.state = State.CANCELLED if request.withdrawn else State.PENDING
        self._changed.notify_all()

    def _cancel(self, request: _Request) -> Outcome:
        if request.state is State.SIGNING:
            request.withdrawn = True
        self._check_open(request, self._clock.now())
        request.state = State.CANCELLED
        self._changed.notify_all()
        return Outcome(State.CANCELLED)

    def _settle(self, now: dt.datetime) -> None:
        """Expire what is due; forget what ended a lifetime ago, and the oldest answered
        requests beyond :data:`KEPT_ANSWERED`."""
        changed = False
        for key, request in list(self._requests.items()):
            if request.state is State.PENDING and now >= request.expires_at:
                request.state = State.EXPIRED
                changed = True
            if request.state.final and now >= request.expires_at + self.settings.request_ttl:
                del self._requests[key]
        answered = [key for key, r in self._requests.items() if r.state.final]
        for key in answered[:max(0, len(answered) - KEPT_ANSWERED)]:
            del self._requests[key]
        if changed:
            self._changed.notify_all()

    def _sign(self, order: SignOrder, offered: Offered, password: str) -> SignResult:
        try:
            credential = npki.load(offered.entry.folder, password)
        except (KeyFileError, KeyMismatchError) as exc:
            raise AgentKeyError(f"the certificate's files cannot be used: {exc}",
                                code="key_unreadable") from None
        except (UnsupportedAlgorithm, ValueError):
            # pyca cannot read the certificate's key (KCDSA, say) to compare it with the
            # key file's
            raise AgentKeyError("the certificate's key is of an algorithm kpki cannot use",
                                code="key_unreadable") from None
        if credential.certificate != offered.entry.certificate:
            raise AgentKeyError("the certificate's folder changed since the dialog showed it",
                                code="key_unreadable")
        if order.include_r and credential.r is None:
            raise AgentKeyError("this key file holds no R for the identity check",
                                code="no_r")
        signer = KeySigner(credential.certificate, credential.private_key)
        signatures = tuple(sign(content, signer, detached=not order.attached, pss=order.pss,
                                clock=self._clock).der for content in order.contents)
        r = credential.r if order.include_r else None
        if order.envelope_to is not None:
            signatures = tuple(seal_r(s, order.envelope_to) for s in signatures)
            r = None if r is None else seal_r(r, order.envelope_to)
        return SignResult(signatures, credential.certificate, r,
                          order.envelope_to is not None)

