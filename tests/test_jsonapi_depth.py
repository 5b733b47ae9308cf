"""A JSON body nested deeper than Python recurses is a 400 in kpki's words, never a 500:
msgspec decodes an untyped (``Any``) field by recursion, and so does the NUL check after it.
No schema of kpki's has such a field today (the portal's bank call had one: a 500 then);
the endpoint must not depend on that."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from pki.web.jsonapi import Body, JsonApi
from pki.web.thread import serve_in_thread


class _Loose(Body):
    value: Any = None


def _post(base: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(base + "/loose", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("depth", [800, 5_000, 100_000])
def test_a_body_nested_deeper_than_python_recurses_is_a_400(depth: int) -> None:
    api: JsonApi[object] = JsonApi(object, lambda service, key: None,  # type: ignore[arg-type,return-value]
                                   name="depth-test", workers=1)
    app = Starlette(routes=[Route("/loose", api.endpoint(_Loose, lambda *a: {"ok": True}),
                                  methods=["POST"])])
    nested = b"[" * depth + b'"x"' + b"]" * depth
    with serve_in_thread(app) as base:
        status, answer = _post(base, b'{"value": ' + nested + b"}")
        assert (status, answer["error"]["code"]) == (400, "bad_json"), answer
        assert _post(base, b'{"value": [["x"]]}') == (200, {"ok": True})  # still serving
