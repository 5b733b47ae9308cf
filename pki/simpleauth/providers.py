"""The simple-authentication providers (간편인증 기관) as data: the codes and names the
aggregators that e-government sites call use for them. kpki plays every one of them with
the same service (:class:`pki.simpleauth.service.SimpleAuth`); a provider is only a code
a person's app and a relying party's request name.

Adding a provider is adding a line to :data:`PROVIDERS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SimpleAuthRequestError

__all__ = ["PROVIDERS", "Provider", "provider"]


@dataclass(frozen=True)
class Provider:
    code: int
    """The aggregator's code for the provider (1 Kakao, 2 Payco ...)."""
    name: str
    """Its name in English."""
    app: str
    """The app (or certificate) a person approves with, as its users call it."""


PROVIDERS: tuple[Provider, ...] = (
    Provider(1, "Kakao", "카카오톡 인증서"),
    Provider(2, "Payco", "페이코 인증서"),
    Provider(3, "Samsung Pass", "삼성패스"),
    Provider(4, "KB", "KB국민인증서"),
    Provider(5, "PASS", "PASS 인증서"),
    Provider(6, "Naver", "네이버 인증서"),
    Provider(7, "Shinhan", "신한인증서"),
    Provider(8, "Toss", "토스 인증서"),
    Provider(10, "Hana", "하나인증서"),
    Provider(11, "NH", "NH인증서"),
)
_BY_CODE = {p.code: p for p in PROVIDERS}


def provider(code: object) -> Provider:
    """The provider with ``code`` (an int, or its digits as text);
    :class:`SimpleAuthRequestError` (``field`` ``provider``) for any other."""
    if isinstance(code, str) and code.isascii() and code.isdigit() and len(code) <= 3:
        code = int(code)
    if isinstance(code, bool) or not isinstance(code, int) or code not in _BY_CODE:
        known = ", ".join(f"{p.code} {p.name}" for p in PROVIDERS)
        raise SimpleAuthRequestError(f"no simple-authentication provider {code!r} (known: "
                                     f"{known})", field="provider")
    return _BY_CODE[code]
