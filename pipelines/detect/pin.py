"""``wishstar init --pin``: resolve exact image tags to ``name:tag@sha256:...`` by asking their registry.

A tag can be moved; a digest cannot. The OCI distribution API answers ``HEAD /v2/<repository>/manifests/<tag>``
with the manifest's digest in ``Docker-Content-Digest`` (a ``GET`` whose body is hashed when a registry leaves
the header out). The ``Accept`` header lists the OCI index and manifest and Docker's manifest list and manifest
v2, so a multi-platform image resolves to its index (what ``docker pull`` resolves). Docker Hub short names
(``golang:1.26.8-bookworm``) live at ``registry-1.docker.io/library/...``; an anonymous bearer token is fetched
when the registry asks for one. ``localhost``/``127.0.0.1`` registries are spoken to over plain HTTP, as
Docker does.

Every failure is a ``PinError`` naming the registry and the reason (``registry-1.docker.io unreachable: ...``),
never a stack trace; callers prefix the image (``pin_all`` does, collecting them so one unreachable registry
does not hide the other results).
Network only through ``urllib``; must not write files or run programs.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from wishstar.engine.executors.registry import DOCKER_HUB as DOCKER_HUB  # re-exported: the tests name it
from wishstar.engine.executors.registry import RegistryError, parse_reference

ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
_PLAIN_HTTP = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class PinError(Exception):
    """An image that could not be pinned, with the reason (the registry unreachable, the tag unknown)."""


@dataclass(frozen=True)
class Reference:
    """``registry`` host (``registry-1.docker.io`` for Docker Hub), ``repository`` (``library/golang``),
    ``tag``; ``text`` is the reference as written, which the pinned form keeps."""

    registry: str
    repository: str
    tag: str
    text: str


def parse(text: str) -> Reference:
    """Split an image reference the way Docker does (``engine.executors.registry.parse_reference``: the first
    part is a registry when it has a ``.`` or a ``:`` or is ``localhost``; a one-part Docker Hub name is under
    ``library/``)."""
    if "@" in text:
        raise PinError("already pinned to a digest")
    try:
        ref = parse_reference(text)
    except RegistryError as exc:
        raise PinError(str(exc)) from None
    return Reference(ref.registry, ref.repository, ref.tag or "latest", text)


def pin_image(text: str, *, mirror: str | None = None, timeout: float = 10.0) -> str:
    """``text@sha256:...`` for the image reference ``text`` (kept as written). ``mirror``: a registry
    (``HOST:PORT``) holding the same repositories and tags, asked instead of the image's own registry (a copy
    made with ``skopeo copy`` keeps the digests)."""
    ref = parse(text)
    asked = Reference(mirror, ref.repository, ref.tag, text) if mirror else ref
    return f"{ref.text}@{digest(asked, timeout=timeout)}"


pin = pin_image


def pin_all(images: Iterable[str], *, mirror: str | None = None,
            timeout: float = 10.0) -> tuple[dict[str, str], list[str]]:
    """Pins for every image that resolved (tag to ``tag@digest``, the shape ``generate(pins=...)`` takes) and
    one message per image that did not (``IMAGE: REASON``)."""
    pins: dict[str, str] = {}
    errors: list[str] = []
    for image in dict.fromkeys(images):
        try:
            pins[image] = pin_image(image, mirror=mirror, timeout=timeout)
        except PinError as exc:
            errors.append(f"{image}: {exc}")
    return pins, errors


def digest(ref: Reference, *, timeout: float = 10.0) -> str:
    """The manifest digest the registry reports for ``ref``'s tag."""
    scheme = "http" if _PLAIN_HTTP.match(ref.registry) else "https"
    url = f"{scheme}://{ref.registry}/v2/{ref.repository}/manifests/{urllib.parse.quote(ref.tag, safe='')}"
    token: str | None = None
    for method in ("HEAD", "GET"):
        status, headers, body = _request(ref, url, method, token, timeout)
        if status == 401 and token is None:
            token = _token(ref, headers.get("WWW-Authenticate", ""), timeout)
            status, headers, body = _request(ref, url, method, token, timeout)
        if status == 404:
            raise PinError(f"no such tag in {ref.registry}/{ref.repository} (manifest unknown)")
        if status in (401, 403):
            raise PinError(f"{ref.registry} refused access ({status}): pinning needs a public image")
        if status >= 400:
            raise PinError(f"{ref.registry} answered {status}")
        reported = headers.get("Docker-Content-Digest", "")
        if _DIGEST.match(reported):
            return reported
        if method == "GET" and body:
            return "sha256:" + hashlib.sha256(body).hexdigest()
    raise PinError(f"{ref.registry} reported no digest")


def _request(ref: Reference, url: str, method: str, token: str | None,
             timeout: float) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read() if method == "GET" else b""
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PinError(f"{ref.registry} unreachable: {reason}") from None


def _token(ref: Reference, challenge: str, timeout: float) -> str | None:
    """An anonymous pull token from a ``Bearer realm=...,service=...`` challenge (Docker Hub, GHCR)."""
    if not challenge.lower().startswith("bearer "):
        return None
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.get("realm")
    if not realm or not realm.startswith(("https://", "http://")):
        return None
    query = {"scope": f"repository:{ref.repository}:pull"}
    if "service" in fields:
        query["service"] = fields["service"]
    url = f"{realm}?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PinError(f"{urllib.parse.urlsplit(realm).netloc} unreachable: "
                       f"{getattr(exc, 'reason', exc)}") from None
    value = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    return value if isinstance(value, str) else None
