def test_health(client) -> None:
    assert client.request("GET", "/health") == (200, {"status": "ok", "products": 5})


def test_list_and_get_products(client) -> None:
    status, body = client.request("GET", "/products")
    assert status == 200
    skus = [p["sku"] for p in body["products"]]
    assert skus == sorted(skus) and "MUG-001" in skus
    status, mug = client.request("GET", "/products/MUG-001/")
    assert status == 200 and mug["price"] == "12.50"
    assert client.request("GET", "/products/NOP-000")[0] == 404


def test_quote_round_trip(client) -> None:
    status, body = client.request("POST", "/cart/quote", {
        "items": [{"sku": "TEE-002", "quantity": 2}], "region": "US-CA", "discount_code": "fiveoff"})
    assert status == 200
    assert body["subtotal"] == "48.00"
    assert body["discount"] == "5.00"
    assert body["tax"] == "3.12"  # 43.00 * 0.0725 = 3.1175
    assert body["total"] == "46.12"


def test_quote_error_statuses(client) -> None:
    status, body = client.request("POST", "/cart/quote", {"items": [{"sku": "bad"}]})
    assert status == 400 and body["details"] == ["items[0].sku: must look like ABC-123"]
    assert client.request("POST", "/cart/quote", {"items": [{"sku": "CAP-003"}]})[0] == 422
    assert client.request("POST", "/cart/quote", raw=b"{not json")[0] == 400
    assert client.request("POST", "/cart/quote", {"items": []}, content_type="text/plain")[0] == 415
    assert client.request("POST", "/cart/quote", raw=b"x" * (64 * 1024 + 1))[0] == 413


def test_method_and_route_errors(client) -> None:
    assert client.request("GET", "/cart/quote") == (405, {"error": "use POST"})
    assert client.request("DELETE", "/products") == (405, {"error": "use GET"})
    assert client.request("GET", "/nowhere") == (404, {"error": "not found"})
