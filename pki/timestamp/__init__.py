"""RFC 3161 time stamps: the authority, the client, and the verifier of tokens.

A signature time stamp (RFC 3161 appendix A) is a token over a SignerInfo's signature
value, carried as the unsigned attribute id-aa-signatureTimeStampToken: it proves the
signature existed at the token's genTime, a time the signer cannot choose (unlike the
signer's own signingTime).
"""

from .authority import ACCEPTED_HASHES, TimeStampAuthority, issue_tsa_certificate
from .protocol import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    HTTPTimestamper,
    TokenInfo,
    build_request,
    read_token,
    token_from_response,
)
from .verify import (
    SignatureTimestamp,
    TokenCheck,
    TokenOutcome,
    TokenVerification,
    signature_timestamps,
    timestamp_tokens,
    verify_timestamp_token,
)

__all__ = [
    "ACCEPTED_HASHES",
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "HTTPTimestamper",
    "SignatureTimestamp",
    "TimeStampAuthority",
    "TokenCheck",
    "TokenInfo",
    "TokenOutcome",
    "TokenVerification",
    "build_request",
    "issue_tsa_certificate",
    "read_token",
    "signature_timestamps",
    "timestamp_tokens",
    "token_from_response",
    "verify_timestamp_token",
]
