"""The WSGI application: routing, JSON in/out and error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from shop_api.catalog import Catalog, default_catalog
from shop_api.pricing import PricingError, quote
from shop_api.validation import ValidationError, parse_quote_request

MAX_BODY = 64 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
            422: "Unprocessable Entity"}


class HTTPError(Exception):
    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


class ShopApp:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else default_catalog()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        try:
            status, payload = self.route(method, path, environ)
        except HTTPError as exc:
            status, payload = exc.status, {"error": exc.message}
            if exc.details:
                payload["details"] = exc.details
        body = json.dumps(payload, sort_keys=True).encode()
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def route(self, method: str, path: str, environ: dict[str, Any]) -> tuple[int, Any]:
        if path == "/health":
            self._allow(method, "GET")
            return 200, {"status": "ok", "products": len(self.catalog)}
        if path == "/products":
            self._allow(method, "GET")
            return 200, {"products": [p.to_json() for p in self.catalog]}
        if path.startswith("/products/"):
            self._allow(method, "GET")
            product = self.catalog.get(path.removeprefix("/products/"))
            if product is None:
                raise HTTPError(404, "no such product")
            return 200, product.to_json()
        if path == "/cart/quote":
            self._allow(method, "POST")
            try:
                request = parse_quote_request(self._json_body(environ))
                return 200, quote(self.catalog, request.items, request.region,
                                  request.discount_code).to_json()
            except ValidationError as exc:
                raise HTTPError(400, "invalid request", exc.errors) from exc
            except PricingError as exc:
                raise HTTPError(422, str(exc)) from exc
        raise HTTPError(404, "not found")

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed:
            raise HTTPError(405, f"use {allowed}")

    @staticmethod
    def _json_body(environ: dict[str, Any]) -> Any:
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.split(";")[0].strip() != "application/json":
            raise HTTPError(415, "Content-Type must be application/json")
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            raise HTTPError(411, "Content-Length required") from None
        if length > MAX_BODY:
            raise HTTPError(413, f"body larger than {MAX_BODY} bytes")
        raw = environ["wsgi.input"].read(length)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"malformed JSON: {exc}") from None


def create_app(catalog: Catalog | None = None) -> ShopApp:
    return ShopApp(catalog)
