"""The bearer-token flow of Docker Hub and Harbor, for real: a registry with token authentication (Debian's
``docker-registry``, ``auth: token``) and a token service written here that signs RS256 JWTs with a key made by
``openssl`` (the registry trusts its certificate). The lookup is asked anonymously, with a docker config's
credentials, and without the credentials a registry demands."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.oci import Buildah, Registry, free_port, require
from wishstar.engine.executors.images import ImageLookup
from wishstar.engine.executors.registry import RegistryError

SERVICE = "wishstar-test-registry"
ISSUER = "wishstar-test-issuer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenService:
    """Answers ``GET /token?service=...&scope=repository:NAME:pull`` with a signed token; with ``users`` set,
    only to a request whose Basic credentials are one of them. ``seen`` records each request's
    Authorization header (None when it had none)."""

    key: Path
    cert: Path
    users: dict[str, str] = field(default_factory=dict)
    seen: list[str | None] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def token(self, scope: str) -> str:
        _, name, actions = scope.split(":")
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode("ascii")]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "test", "aud": SERVICE, "iat": now - 10, "nbf": now - 10,
                  "exp": now + 300, "jti": str(now), "access": [{"type": "repository", "name": name,
                                                                 "actions": actions.split(",")}]}
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing.encode(),
                                   check=True, capture_output=True).stdout
        return f"{signing}.{b64url(signature)}"

    def allowed(self, authorization: str | None) -> bool:
        if not self.users:
            return True
        if not authorization or not authorization.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return self.users.get(user) == password

    def serve(self) -> ThreadingHTTPServer:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization")
                service.seen.append(authorization)
                query = parse_qs(urlsplit(self.path).query)
                if not service.allowed(authorization) or query.get("service") != [SERVICE]:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": service.token(query["scope"][0])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require("openssl", "openssl")
    root = tmp_path_factory.mktemp("token-keys")
    key, cert = root / "key.pem", root / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=wishstar-test-token"], check=True, capture_output=True)
    return key, cert


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]) -> Iterator[tuple[str, TokenService]]:
    """An image in a registry that wants a bearer token from ``TokenService``: (reference, token service)."""
    root = tmp_path_factory.mktemp("protected-registry")
    open_registry = Registry(root).start()  # pushed without authentication, then served with it
    image = Buildah(tmp_path_factory.mktemp("buildah")).push_image(
        open_registry, "team/tool:2", entrypoint=["/bin/busybox", "echo", "authenticated"], cmd=None)
    open_registry.stop()
    service = TokenService(*keys)
    server = service.serve()
    registry = Registry(root, open_registry.address, auth=(
        f"auth:\n  token:\n    realm: http://127.0.0.1:{service.port}/token\n    service: {SERVICE}\n"
        f"    issuer: {ISSUER}\n    rootcertbundle: {keys[1]}\n")).start()
    try:
        yield image, service
    finally:
        registry.stop()
        server.shutdown()


def docker_config(path: Path, host: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def test_an_anonymous_pull_token_is_fetched_when_the_registry_asks_for_one(
        protected: tuple[str, TokenService], tmp_path: Path) -> None:
    image, service = protected
    service.users, service.seen = {}, []
    config = ImageLookup(tmp_path / "cache").config(image)
    assert config.entrypoint == ("/bin/busybox", "echo", "authenticated")
    assert service.seen == [None]  # one token, asked for without credentials, used for every request after


def test_the_docker_configs_credentials_get_the_token_and_are_never_shown(
        protected: tuple[str, TokenService], tmp_path: Path) -> None:
    image, service = protected
    service.users, service.seen = {"robot$ci": "s3cret-pass"}, []
    host = image.split("/", 1)[0]
    auth_file = docker_config(tmp_path / "config.json", host, "robot$ci", "s3cret-pass")
    assert ImageLookup(tmp_path / "cache", auth_file=auth_file).config(image).entrypoint[-1] == "authenticated"
    assert service.seen == ["Basic " + base64.b64encode(b"robot$ci:s3cret-pass").decode()]
    wrong = docker_config(tmp_path / "wrong.json", host, "robot$ci", "not-the-pass")
    with pytest.raises(RegistryError) as failed:
        ImageLookup(tmp_path / "other-cache", auth_file=wrong).config(image)
    assert "gave no pull token for team/tool (401)" in str(failed.value)
    assert "not-the-pass" not in str(failed.value) and "robot" not in str(failed.value)


def test_without_credentials_a_registry_that_demands_them_is_a_clear_refusal(
        protected: tuple[str, TokenService], tmp_path: Path) -> None:
    image, service = protected
    service.users = {"robot$ci": "s3cret-pass"}
    with pytest.raises(RegistryError, match=r"token service \(127\.0\.0\.1:\d+\) gave no pull token"):
        ImageLookup(tmp_path / "cache").config(image)

