import pytest

from shop_api.validation import MAX_QUANTITY, ValidationError, parse_quote_request


def test_defaults_and_normalisation() -> None:
    req = parse_quote_request({"items": [{"sku": "MUG-001"}], "discount_code": "  WELCOME10 "})
    assert req.items == [("MUG-001", 1)]
    assert req.region == "DE"
    assert req.discount_code == "WELCOME10"


def test_collects_every_error_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        parse_quote_request({
            "items": [{"sku": "mug"}, {"sku": "MUG-001", "quantity": 0}, {"sku": "TEE-002", "quantity": True}, 3],
            "region": "",
            "coupon": "x",
        })
    assert info.value.errors == [
        "unknown field(s): coupon",
        "items[0].sku: must look like ABC-123",
        f"items[1].quantity: must be between 1 and {MAX_QUANTITY}",
        "items[2].quantity: must be an integer",
        "items[3]: must be an object",
        "region: must be a non-empty string",
    ]


@pytest.mark.parametrize("body", [[], "items", None, {"items": []}, {"items": "MUG-001"}])
def test_rejects_wrong_shapes(body: object) -> None:
    with pytest.raises(ValidationError):
        parse_quote_request(body)
