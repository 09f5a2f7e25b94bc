"""The product catalogue: an in-memory, read-only mapping of SKU -> Product."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Decimal  # unit price, tax excluded
    stock: int
    category: str

    def to_json(self) -> dict[str, object]:
        return {
            "sku": self.sku,
            "name": self.name,
            "price": f"{self.price:.2f}",
            "stock": self.stock,
            "category": self.category,
        }


class Catalog:
    def __init__(self, products: Iterable[Product]) -> None:
        self._products: dict[str, Product] = {}
        for product in products:
            if product.sku in self._products:
                raise ValueError(f"duplicate SKU {product.sku!r}")
            if product.price < 0:
                raise ValueError(f"negative price for {product.sku!r}")
            self._products[product.sku] = product

    def get(self, sku: str) -> Product | None:
        return self._products.get(sku)

    def __iter__(self) -> Iterator[Product]:
        return iter(sorted(self._products.values(), key=lambda p: p.sku))

    def __len__(self) -> int:
        return len(self._products)

    def by_category(self, category: str) -> list[Product]:
        return [p for p in self if p.category == category]


def default_catalog() -> Catalog:
    return Catalog([
        Product("MUG-001", "Wishstar mug", Decimal("12.50"), 40, "kitchen"),
        Product("TEE-002", "Wishstar T-shirt", Decimal("24.00"), 25, "apparel"),
        Product("CAP-003", "Wishstar cap", Decimal("18.90"), 0, "apparel"),
        Product("STK-004", "Sticker pack", Decimal("3.99"), 500, "misc"),
        Product("BAG-005", "Tote bag", Decimal("15.00"), 12, "apparel"),
    ])
