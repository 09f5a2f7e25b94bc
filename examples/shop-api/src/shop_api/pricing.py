"""Cart quotes: line totals, discount codes and regional tax, all in exact decimal money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shop_api.catalog import Catalog

CENT = Decimal("0.01")

# VAT / sales tax by region, applied to the discounted subtotal.
TAX_RATES: dict[str, Decimal] = {
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
    "US-OR": Decimal("0"),
    "US-CA": Decimal("0.0725"),
}


@dataclass(frozen=True)
class Discount:
    code: str
    percent: Decimal = Decimal("0")  # e.g. 10 means 10 % off
    amount: Decimal = Decimal("0")  # fixed amount off
    minimum_subtotal: Decimal = Decimal("0")

    def apply(self, subtotal: Decimal) -> Decimal:
        """The amount taken off ``subtotal`` (never more than the subtotal itself)."""
        if subtotal < self.minimum_subtotal:
            return Decimal("0")
        off = subtotal * self.percent / 100 + self.amount
        return min(money(off), subtotal)


DISCOUNTS: dict[str, Discount] = {
    "WELCOME10": Discount("WELCOME10", percent=Decimal("10")),
    "FIVEOFF": Discount("FIVEOFF", amount=Decimal("5.00"), minimum_subtotal=Decimal("30.00")),
}


class PricingError(ValueError):
    """A quote cannot be made (unknown SKU, out of stock, unknown code or region)."""


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return money(self.unit_price * self.quantity)


@dataclass(frozen=True)
class Quote:
    lines: tuple[Line, ...]
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    region: str
    discount_code: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "lines": [
                {"sku": ln.sku, "name": ln.name, "quantity": ln.quantity,
                 "unit_price": f"{ln.unit_price:.2f}", "total": f"{ln.total:.2f}"}
                for ln in self.lines
            ],
            "subtotal": f"{self.subtotal:.2f}",
            "discount": f"{self.discount:.2f}",
            "tax": f"{self.tax:.2f}",
            "total": f"{self.total:.2f}",
            "region": self.region,
            "discount_code": self.discount_code,
        }


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def quote(catalog: Catalog, items: list[tuple[str, int]], region: str,
          discount_code: str | None = None) -> Quote:
    """Price a cart. Repeated SKUs are merged; stock is checked against the merged quantity."""
    if region not in TAX_RATES:
        raise PricingError(f"unknown region {region!r}")
    discount = None
    if discount_code is not None:
        discount = DISCOUNTS.get(discount_code.upper())
        if discount is None:
            raise PricingError(f"unknown discount code {discount_code!r}")

    merged: dict[str, int] = {}
    for sku, quantity in items:
        merged[sku] = merged.get(sku, 0) + quantity

    lines = []
    for sku, quantity in merged.items():
        product = catalog.get(sku)
        if product is None:
            raise PricingError(f"unknown product {sku!r}")
        if quantity > product.stock:
            raise PricingError(f"only {product.stock} of {sku!r} in stock")
        lines.append(Line(sku, product.name, quantity, product.price))

    subtotal = money(sum((ln.total for ln in lines), Decimal("0")))
    off = discount.apply(subtotal) if discount else Decimal("0")
    tax = money((subtotal - off) * TAX_RATES[region])
    total = subtotal - off + tax
    return Quote(tuple(lines), subtotal, off, tax, total, region,
                 discount.code if discount else None)
