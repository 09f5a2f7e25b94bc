"""``python -m shop_api [--host H] [--port P]``: serve the API with the standard library's WSGI server."""

from __future__ import annotations

import argparse
import os
from wsgiref.simple_server import make_server

from shop_api.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shop_api")
    parser.add_argument("--host", default=os.environ.get("SHOP_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SHOP_API_PORT", "8080")))
    args = parser.parse_args(argv)
    with make_server(args.host, args.port, create_app()) as server:
        print(f"shop-api listening on http://{args.host}:{args.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
