"""The cloud's JSON API under ``/cloud/v1``, added to ``kpki serve``.

Institutions authenticate with ``X-API-Key``; a signing device names itself with
``X-Device-Id``. Every error is ``{"error": {"code": ..., "message": ...}}`` with a stable
code and the matching HTTP status. Work that costs (the PIN KDF, signing) runs in worker
threads, each with its own store connection. Nothing here logs a PIN, key or code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cryptography import x509
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import PKIError
from .service import Cloud, CloudError, Institution

__all__ = ["MAX_BODY_BYTES", "cloud_routes"]

MAX_BODY_BYTES = 2 * 1024 * 1024


def _error(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}},
                        status_code=status)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def cloud_routes(factory: Callable[[], Cloud], *, workers: int = 8,
                 test_channel: bool = True) -> list[Route]:
    """Routes for a cloud whose per-thread :class:`Cloud` instances ``factory`` makes."""
    local = threading.local()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpki-cloud")

    def cloud() -> Cloud:
        instance = getattr(local, "cloud", None)
        if instance is None:
            instance = local.cloud = factory()
        return instance

    Handler = Callable[[Cloud, Institution, dict[str, Any], Request], Any]

    def endpoint(handler: Handler, *, status: int = 200
                 ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit()
                                         or int(declared) > MAX_BODY_BYTES):
                return _error("too_large", "the request body is too large", 413)
            body: dict[str, Any] = {}
            if request.method == "POST":
                raw = await request.body()
                if len(raw) > MAX_BODY_BYTES:
                    return _error("too_large", "the request body is too large", 413)
                try:
                    body = json.loads(raw or b"{}")
                except (ValueError, UnicodeDecodeError):
                    return _error("bad_json", "the body is not JSON", 400)
                if not isinstance(body, dict):
                    return _error("bad_json", "the body is not a JSON object", 400)
            api_key = request.headers.get("x-api-key")

            def work() -> Any:
                instance = cloud()
                institution = instance.authenticate(api_key)
                return handler(instance, institution, body, request)

            try:
                result = await asyncio.get_running_loop().run_in_executor(pool, work)
            except CloudError as exc:
                return _error(exc.code, str(exc), exc.status, **exc.extra)
            except PKIError as exc:
                return _error("refused", str(exc), 409)
            except (KeyError, TypeError, ValueError) as exc:
                return _error("bad_request", f"missing or malformed field: {exc}", 400)
            return JSONResponse(result, status_code=status)

        return run

    def serial_of(request: Request) -> int:
        try:
            return int(request.path_params["serial"], 16)
        except ValueError:
            raise CloudError("bad_request", "the serial is hex") from None

    def register(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        return {"user_id": c.register_user(i, name=b["name"], phone=b["phone"],
                                           birth_date=b["birth_date"])}

    def confirm(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        c.confirm(i, r.path_params["user"], str(b["code"]))
        return {"confirmed": True}

    def issue(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        issued = c.issue(i, r.path_params["user"], rrn=b["rrn"], pin=b["pin"],
                         pin_confirm=b["pin_confirm"], kind=b.get("kind", "personal"))
        from cryptography.hazmat.primitives import serialization

        return {"serial": format(issued.serial, "X"), "profile": issued.profile.name,
                "not_after": issued.certificate.not_valid_after_utc.strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "certificate": _b64(issued.certificate.public_bytes(
                    serialization.Encoding.DER))}

    def sign(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        try:
            content = base64.b64decode(b["content"], validate=True)
        except (binascii.Error, TypeError):
            raise CloudError("bad_request", "content is base64") from None
        result = c.sign(i, serial_of(r), pin=b["pin"], content=content,
                        purpose=str(b["purpose"]), device=r.headers.get("x-device-id"),
                        detached=bool(b.get("detached")), bare=bool(b.get("bare")),
                        pss=bool(b.get("pss")), include_r=bool(b.get("include_r")),
                        signed_attributes=not b.get("no_attrs"))
        out = {"signature": _b64(result["signature"]),
               "serial": format(result["serial"], "X"),
               "certificate": _b64(result["certificate"])}
        if "r" in result and result["r"] is not None:
            out["r"] = result["r"].hex()
        if "renewed_from" in result:
            out["renewed_from"] = format(result["renewed_from"], "X")
        return out

    def pin(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        c.change_pin(i, serial_of(r), old_pin=b["old_pin"], new_pin=b["new_pin"],
                     new_pin_confirm=b["new_pin_confirm"])
        return {"changed": True}

    def registration(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        c.register_certificate(i, serial_of(r), pin=b["pin"])
        return {"registered": True}

    def revoke(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        reason = x509.ReasonFlags(b.get("reason", "unspecified"))
        c.revoke(i, serial_of(r), reason)
        return {"revoked": True}

    def devices(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        user = r.path_params["user"]
        if r.method == "POST":
            if "designated_only" in b:
                c.set_designated_only(user, bool(b["designated_only"]))
            if "add" in b:
                c.add_device(user, b["add"])
            if "remove" in b:
                c.remove_device(user, b["remove"])
        return c.devices(user)

    def history(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        return {"history": c.history(r.path_params["user"])}

    def messages(c: Cloud, i: Institution, b: dict[str, Any], r: Request) -> Any:
        return {"messages": c.sql.messages(r.query_params.get("phone", ""))}

    routes = [
        Route("/cloud/v1/users", endpoint(register, status=201), methods=["POST"]),
        Route("/cloud/v1/users/{user}/confirm", endpoint(confirm), methods=["POST"]),
        Route("/cloud/v1/users/{user}/certificates", endpoint(issue, status=201),
              methods=["POST"]),
        Route("/cloud/v1/users/{user}/devices", endpoint(devices), methods=["GET", "POST"]),
        Route("/cloud/v1/users/{user}/history", endpoint(history), methods=["GET"]),
        Route("/cloud/v1/certificates/{serial}/sign", endpoint(sign), methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/pin", endpoint(pin), methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/registrations", endpoint(registration),
              methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/revoke", endpoint(revoke), methods=["POST"]),
    ]
    if test_channel:
        routes.append(Route("/cloud/v1/test/messages", endpoint(messages), methods=["GET"]))
    return routes
