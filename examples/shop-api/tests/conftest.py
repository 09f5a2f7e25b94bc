from __future__ import annotations

import io
import json
from typing import Any

import pytest

from shop_api.app import create_app


class Client:
    """Calls the WSGI app in-process: no sockets, so the tests are fast and never flaky."""

    def __init__(self) -> None:
        self.app = create_app()

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
        }
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(headers)

        payload = b"".join(self.app(environ, start_response))
        assert captured["headers"]["Content-Type"] == "application/json"
        assert int(captured["headers"]["Content-Length"]) == len(payload)
        return captured["status"], json.loads(payload)


@pytest.fixture
def client() -> Client:
    return Client()
