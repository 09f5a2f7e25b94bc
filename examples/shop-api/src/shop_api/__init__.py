"""shop-api: a tiny JSON API for a shop (catalogue, cart quotes with discounts and tax).

Standard library only, so it runs anywhere Python 3.11+ does. ``python -m shop_api`` serves it.
"""

__version__ = "1.4.0"

from shop_api.app import ShopApp, create_app

__all__ = ["ShopApp", "__version__", "create_app"]
