"""The client side of RFC 3161: requests, responses, and what a token says.

:class:`HTTPTimestamper` is what ``kpki sign --timestamp URL`` uses: it sends a SHA-256
imprint of a signature value with a fresh nonce and certReq, and accepts the answer only
when it is granted, parses, and carries the same imprint and nonce; anything else is a
:class:`pki.errors.TimestampError` with the reason. Whether the token's TSA is to be
trusted is the verifier's question (:mod:`pki.timestamp.verify`), not the signer's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from asn1crypto import cms, core, tsp

from ..entropy import Entropy, SystemEntropy
from ..errors import FetchError, TimestampError
from ..signing.fetch import fetch

__all__ = [
    "MAX_RESPONSE_BYTES",
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "HTTPTimestamper",
    "TimeStampResp",
    "TokenInfo",
    "build_request",
    "load_token",
    "post",
    "read_token",
    "token_from_response",
]

REQUEST_TYPE = "application/timestamp-query"
RESPONSE_TYPE = "application/timestamp-reply"
MAX_RESPONSE_BYTES = 1024 * 1024
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class TimeStampResp(tsp.TimeStampResp):  # type: ignore[misc]
    """RFC 3161's TimeStampResp, whose timeStampToken is OPTIONAL (absent from a
    rejection); asn1crypto's spec requires it."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class TokenInfo:
    """What a token's TSTInfo states (nothing here is verified)."""

    gen_time: dt.datetime
    serial_number: int
    policy: str
    hash_algorithm: str
    hashed_message: bytes
    nonce: int | None
    accuracy: dt.timedelta | None


def build_request(data: bytes, *, nonce: int | None, cert_req: bool = True,
                  hash_algorithm: str = "sha256", policy: str | None = None) -> bytes:
    """A DER TimeStampReq over ``hash_algorithm(data)``."""
    digest = _DIGESTS[hash_algorithm](data).digest()
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_algorithm},
                            "hashed_message": digest},
        "cert_req": cert_req,
    }
    if policy is not None:
        fields["req_policy"] = policy
    if nonce is not None:
        fields["nonce"] = nonce
    return cast(bytes, tsp.TimeStampReq(fields).dump())


def load_token(token: bytes) -> tuple[cms.SignedData, bytes, tsp.TSTInfo]:
    """The SignedData of a token, its encapsulated TSTInfo's DER and the TSTInfo, every
    field parsed; :class:`TimestampError` if ``token`` is not a time-stamp token."""
    try:
        info = cms.ContentInfo.load(bytes(token), strict=True)
        if info["content_type"].native != "signed_data":
            raise TimestampError(f"the token is {info['content_type'].native}, "
                                 "not SignedData")
        signed = info["content"]
        encapsulated = signed["encap_content_info"]
        if encapsulated["content_type"].native != "tst_info":
            raise TimestampError("the token does not encapsulate a TSTInfo")
        content = encapsulated["content"]
        if content is None or content.contents is None:
            raise TimestampError("the token's TSTInfo is missing")
        tst_der = bytes(content.__bytes__())
        tst = tsp.TSTInfo.load(tst_der, strict=True)
        tst.native  # noqa: B018 - asn1crypto parses lazily: parse the TSTInfo now
    except TimestampError:
        raise
    except Exception as exc:  # asn1crypto raises many exception types for malformed input
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TimestampError(f"the time-stamp token is malformed: {text}") from None
    return signed, tst_der, tst


def read_token(token: bytes) -> TokenInfo:
    """What ``token`` states; :class:`TimestampError` if it is not a token."""
    return _info(load_token(token)[2])


def _info(tst: tsp.TSTInfo) -> TokenInfo:
    fields = tst.native
    accuracy = fields["accuracy"]
    return TokenInfo(
        gen_time=fields["gen_time"].astimezone(dt.UTC),
        serial_number=fields["serial_number"],
        policy=fields["policy"],
        hash_algorithm=fields["message_imprint"]["hash_algorithm"]["algorithm"],
        hashed_message=fields["message_imprint"]["hashed_message"],
        nonce=fields["nonce"],
        accuracy=None if accuracy is None else dt.timedelta(
            seconds=accuracy["seconds"] or 0, milliseconds=accuracy["millis"] or 0,
            microseconds=accuracy["micros"] or 0),
    )


def token_from_response(response: bytes, *, request: bytes, url: str | None = None
                        ) -> bytes:
    """The token of a granted TimeStampResp that answers ``request`` (same imprint, same
    nonce); :class:`TimestampError` for a rejection or anything malformed or mismatched."""
    try:
        parsed = TimeStampResp.load(bytes(response), strict=True)
        status = parsed["status"].native
    except Exception as exc:  # asn1crypto raises many exception types for malformed input
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TimestampError(f"the time-stamp response is malformed: {text}",
                             url=url) from None
    if status["status"] not in ("granted", "granted_with_mods"):
        fail = tuple(sorted(status["fail_info"] or ()))
        text = "; ".join(status["status_string"] or ())
        raise TimestampError(
            f"the TSA answered {status['status']}"
            + (f" ({', '.join(fail)})" if fail else "") + (f": {text}" if text else ""),
            url=url, status=status["status"], fail_info=fail)
    token_info = parsed["time_stamp_token"]
    if isinstance(token_info, core.Void):
        raise TimestampError("the TSA granted the request but sent no token", url=url,
                             status=status["status"])
    token = cast(bytes, token_info.dump())
    asked = tsp.TimeStampReq.load(request).native
    stated = read_token(token)
    if (stated.hash_algorithm, stated.hashed_message) != (
            asked["message_imprint"]["hash_algorithm"]["algorithm"],
            asked["message_imprint"]["hashed_message"]):
        raise TimestampError("the token stamps other data than was asked for", url=url,
                             status=status["status"])
    if stated.nonce != asked["nonce"]:
        raise TimestampError("the token's nonce is not the request's (a replayed or "
                             "misdirected answer)", url=url, status=status["status"])
    return token


def post(url: str, body: bytes, *, deadline: float | None = None,
         max_bytes: int = MAX_RESPONSE_BYTES) -> bytes:
    """POST a TimeStampReq to ``url`` and return the body of the answer, through
    :func:`pki.signing.fetch.fetch`: one deadline for the whole exchange (its default, 10
    s), however slowly the TSA answers, and at most ``max_bytes``. Raises
    :class:`TimestampError` (carrying the URL) for anything but a whole 200 answer."""
    try:
        return fetch(url, body, deadline=deadline, max_bytes=max_bytes,
                     content_type=REQUEST_TYPE, accept=RESPONSE_TYPE)
    except FetchError as exc:
        raise TimestampError(f"cannot get a time stamp from the TSA: {exc}", url=url
                             ) from None


class HTTPTimestamper:
    """A :class:`pki.signing.cms.Timestamper` that asks a TSA over HTTP.

    ``http`` posts a request body to a URL and returns the answer's body (replaceable for
    tests); nonces are 63 random bits from ``entropy``.
    """

    def __init__(self, url: str, *, http: Callable[[str, bytes], bytes] = post,
                 entropy: Entropy | None = None) -> None:
        self.url = url
        self.http = http
        self.entropy: Entropy = entropy or SystemEntropy()

    def __call__(self, signature_value: bytes) -> bytes:
        nonce = int.from_bytes(self.entropy.token_bytes(8), "big") >> 1
        request = build_request(signature_value, nonce=nonce)
        return token_from_response(self.http(self.url, request), request=request,
                                   url=self.url)
