"""The portal's client of ``kpki serve``'s JSON APIs: simple authentication as a relying
party (its institution's API key) and as the demo person's phone (the app's device token).

Every call has a deadline and a cap on the answer; an answer that is not the API's JSON,
or a server that cannot be reached, is :class:`UpstreamError`; a refusal the API states
(``{"error": {"code", "message"}}``) is :class:`UpstreamRefusal` with its status and code,
so the portal can answer its own caller in the same terms.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..errors import UpstreamError, UpstreamRefusal

__all__ = ["KpkiClient", "UpstreamError", "UpstreamRefusal"]

MAX_ANSWER = 1024 * 1024
TIMEOUT = 10.0


class KpkiClient:
    """JSON calls to ``base_url`` (kpki serve)."""

    def __init__(self, base_url: str, *, timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             api_key: str | None = None, bearer: str | None = None) -> dict[str, Any]:
        """The JSON object answered to ``method path`` (with ``body`` as JSON)."""
        url = self.base_url + path
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if api_key is not None:
            headers["x-api-key"] = api_key
        if bearer is not None:
            headers["authorization"] = f"Bearer {bearer}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return _json(answer.read(MAX_ANSWER + 1), url)
        except urllib.error.HTTPError as exc:
            try:
                found = _json(exc.read(MAX_ANSWER + 1), url)
            finally:
                exc.close()
            error = found.get("error")
            if not isinstance(error, dict):
                raise UpstreamError(f"kpki serve answered {exc.code} without an error",
                                    url=url) from None
            raise UpstreamRefusal(
                str(error.get("message", "")), status=exc.code,
                code=str(error.get("code", "refused")),
                extra={k: v for k, v in error.items() if k not in ("code", "message")}
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise UpstreamError(f"cannot reach kpki serve: {exc}", url=url) from None


    def answer(self, method: str, path: str, body: dict[str, Any] | None = None, *,
               api_key: str | None = None) -> tuple[int, dict[str, Any]]:
        """The HTTP status and the JSON object answered, a refusal included (what the
        bank pages show step by step); :class:`UpstreamError` as :meth:`call`."""
        try:
            return 200, self.call(method, path, body, api_key=api_key)
        except UpstreamRefusal as exc:
            return exc.status, {"error": {"code": exc.code, "message": str(exc),
                                          **exc.extra}}


def _json(raw: bytes, url: str) -> dict[str, Any]:
    if len(raw) > MAX_ANSWER:
        raise UpstreamError("kpki serve's answer is too large", url=url)
    try:
        found = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError("kpki serve's answer is not JSON", url=url) from None
    if not isinstance(found, dict):
        raise UpstreamError("kpki serve's answer is not a JSON object", url=url)
    return found
