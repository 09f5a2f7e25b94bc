"""Request validation: turn untrusted JSON into typed values or a list of precise error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SKU_PATTERN = re.compile(r"^[A-Z]{3}-\d{3}$")
MAX_ITEMS = 50
MAX_QUANTITY = 99


class ValidationError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class QuoteRequest:
    items: list[tuple[str, int]]
    region: str
    discount_code: str | None


def parse_quote_request(body: Any) -> QuoteRequest:
    errors: list[str] = []
    if not isinstance(body, dict):
        raise ValidationError(["body must be a JSON object"])

    unknown = sorted(set(body) - {"items", "region", "discount_code"})
    if unknown:
        errors.append(f"unknown field(s): {', '.join(unknown)}")

    items: list[tuple[str, int]] = []
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        errors.append("items: must be a non-empty list")
    elif len(raw_items) > MAX_ITEMS:
        errors.append(f"items: at most {MAX_ITEMS} entries")
    else:
        for i, item in enumerate(raw_items):
            if not isinstance(item, dict):
                errors.append(f"items[{i}]: must be an object")
                continue
            sku = item.get("sku")
            quantity = item.get("quantity", 1)
            if not isinstance(sku, str) or not SKU_PATTERN.match(sku):
                errors.append(f"items[{i}].sku: must look like ABC-123")
            # bool is an int subclass: reject true/false explicitly
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                errors.append(f"items[{i}].quantity: must be an integer")
            elif not 1 <= quantity <= MAX_QUANTITY:
                errors.append(f"items[{i}].quantity: must be between 1 and {MAX_QUANTITY}")
            elif isinstance(sku, str) and SKU_PATTERN.match(sku):
                items.append((sku, quantity))

    region = body.get("region", "DE")
    if not isinstance(region, str) or not region:
        errors.append("region: must be a non-empty string")

    code = body.get("discount_code")
    if code is not None and (not isinstance(code, str) or not code.strip()):
        errors.append("discount_code: must be a non-empty string or null")

    if errors:
        raise ValidationError(errors)
    return QuoteRequest(items, region, code.strip() if isinstance(code, str) else None)
