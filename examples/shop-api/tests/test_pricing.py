from decimal import Decimal

import pytest

from shop_api.catalog import Catalog, Product, default_catalog
from shop_api.pricing import PricingError, quote


@pytest.fixture
def catalog() -> Catalog:
    return default_catalog()


def test_subtotal_tax_and_total(catalog: Catalog) -> None:
    q = quote(catalog, [("MUG-001", 2), ("STK-004", 1)], "DE")
    assert q.subtotal == Decimal("28.99")
    assert q.discount == Decimal("0")
    assert q.tax == Decimal("5.51")  # 28.99 * 0.19 = 5.5081 -> 5.51
    assert q.total == Decimal("34.50")


def test_percentage_discount_applies_before_tax(catalog: Catalog) -> None:
    q = quote(catalog, [("TEE-002", 1)], "FR", "welcome10")
    assert q.discount == Decimal("2.40")
    assert q.tax == Decimal("4.32")  # (24.00 - 2.40) * 0.20
    assert q.total == Decimal("25.92")
    assert q.discount_code == "WELCOME10"


def test_fixed_discount_needs_minimum_subtotal(catalog: Catalog) -> None:
    below = quote(catalog, [("TEE-002", 1)], "US-OR", "FIVEOFF")
    above = quote(catalog, [("TEE-002", 2)], "US-OR", "FIVEOFF")
    assert below.discount == Decimal("0")
    assert above.discount == Decimal("5.00")
    assert above.total == Decimal("43.00")


def test_repeated_skus_are_merged_and_stock_checked(catalog: Catalog) -> None:
    q = quote(catalog, [("BAG-005", 5), ("BAG-005", 7)], "NL")
    assert [(ln.sku, ln.quantity) for ln in q.lines] == [("BAG-005", 12)]
    with pytest.raises(PricingError, match="only 12"):
        quote(catalog, [("BAG-005", 6), ("BAG-005", 7)], "NL")


@pytest.mark.parametrize(("items", "region", "code", "message"), [
    ([("NOP-999", 1)], "DE", None, "unknown product"),
    ([("CAP-003", 1)], "DE", None, "only 0"),
    ([("MUG-001", 1)], "XX", None, "unknown region"),
    ([("MUG-001", 1)], "DE", "FREESTUFF", "unknown discount code"),
])
def test_quote_errors(catalog: Catalog, items: list[tuple[str, int]], region: str,
                      code: str | None, message: str) -> None:
    with pytest.raises(PricingError, match=message):
        quote(catalog, items, region, code)


def test_discount_never_exceeds_subtotal() -> None:
    cheap = Catalog([Product("PEN-001", "Pen", Decimal("1.00"), 10, "misc")])
    q = quote(cheap, [("PEN-001", 1)], "DE", "FIVEOFF")
    assert q.discount == Decimal("0")  # below the 30.00 minimum
    from shop_api.pricing import Discount
    assert Discount("X", amount=Decimal("50")).apply(Decimal("20.00")) == Decimal("20.00")


def test_catalog_rejects_duplicates_and_negative_prices() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Catalog([Product("A-1", "a", Decimal("1"), 1, "x"), Product("A-1", "b", Decimal("1"), 1, "x")])
    with pytest.raises(ValueError, match="negative"):
        Catalog([Product("A-1", "a", Decimal("-1"), 1, "x")])
