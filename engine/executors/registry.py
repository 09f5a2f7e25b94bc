"""A small client of the OCI distribution API: an image reference to its digest, manifest and config.

Why it exists: a step that names only an image runs that image's ENTRYPOINT and CMD, which live in the
image's config blob in its registry (Docker Hub, Harbor, GHCR, a local ``docker-registry``). Tekton's
controller reads them the same way (go-containerregistry). This module speaks just enough of the API:
``GET /v2/<repository>/manifests/<tag|digest>`` with the OCI and Docker media types (an index or manifest list
picks the platform, ``linux/amd64``), then ``GET /v2/<repository>/blobs/<config digest>``.

Authentication as the registries ask for it: a ``401`` with ``WWW-Authenticate: Bearer realm=...,service=...``
gets a pull token from the realm (anonymously, or with the registry's credentials from a docker config file,
``{"auths": {"HOST": {"auth": base64(user:password)}}}``); a ``Basic`` challenge is answered with those
credentials. Registries listed as insecure, and loopback ones, are spoken to over plain HTTP, as Docker does.

What it must not do: write files (``engine.executors.images`` caches), or put a credential or token into an
error message. Every failure is a ``RegistryError`` whose text is the reason alone (the caller names the
image, step and task).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_HUB = "registry-1.docker.io"
PLATFORM = ("linux", "amd64")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB)
USER_AGENT = "wishstar-image-lookup"
MAX_DOCUMENT = 4 * 1024 * 1024
"""Manifests and configs are small; a bigger answer is not one."""


class RegistryError(Exception):
    """Why an image's config could not be read (unreachable, refused, unknown tag, not an image)."""


@dataclass(frozen=True)
class Reference:
    """``registry`` host (``registry-1.docker.io`` for Docker Hub), ``repository`` (``library/busybox``), and
    the ``tag`` or ``digest`` asked for."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def wanted(self) -> str:
        return self.digest or self.tag or "latest"


def parse_reference(text: str) -> Reference:
    """Split an image reference the way Docker does: the first part is a registry when it has a ``.`` or a
    ``:`` or is ``localhost``; a one-part Docker Hub name is under ``library/``; no tag means ``latest``."""
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise RegistryError(f"{digest!r} is not a sha256 digest")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.split(":", 1)[1]
        name = name[: -len(last)] + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in ("docker.io", "index.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not re.fullmatch(r"[a-z0-9]+([._/-][a-z0-9]+|__)*", repository) or tag == "":
        raise RegistryError(f"{text!r} is not an image reference (hint: [registry/]name:tag)")
    return Reference(registry, repository, tag if tag is not None or digest else "latest", digest or None)


def read_credentials(path: Path | None) -> dict[str, tuple[str, str]]:
    """Registry host -> (user, password) from a docker config file (``auths``); none if ``path`` is None or
    missing. Credential helpers (``credsStore``) are not run."""
    if path is None or not path.is_file():
        return {}
    try:
        auths = json.loads(path.read_text(encoding="utf-8")).get("auths", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise RegistryError(f"cannot read the registry credentials in {path}: {type(exc).__name__}") from None
    out: dict[str, tuple[str, str]] = {}
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        user, password = _entry_credentials(entry)
        if user is not None and password is not None:
            host = urllib.parse.urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]
            out[DOCKER_HUB if key in _HUB_KEYS or host in _HUB_KEYS else host] = (user, password)
    return out


def _entry_credentials(entry: Any) -> tuple[str | None, str | None]:
    if not isinstance(entry, dict):
        return None, None
    if isinstance(entry.get("auth"), str):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        except ValueError:
            return None, None
        return user, password
    name, secret = entry.get("username"), entry.get("password")
    return (name, secret) if isinstance(name, str) and isinstance(secret, str) else (None, None)


@dataclass
class RegistryClient:
    """Reads manifests and configs; ``requests`` counts the HTTP requests made (tests read it)."""

    insecure: Iterable[str] = ()
    """Registry hosts (``host:port``) spoken to over plain HTTP; loopback hosts always are."""
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    timeout: float = 10.0
    requests: int = 0
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def digest(self, ref: Reference) -> str:
        """The digest of the manifest (or index) the reference names; a digest reference is its own."""
        if ref.digest:
            return ref.digest
        _, headers, body = self._get(ref, f"manifests/{urllib.parse.quote(ref.wanted, safe='')}", "HEAD")
        reported = headers.get("docker-content-digest", "")
        if _DIGEST.match(reported):
            return reported
        _, _, body = self._get(ref, f"manifests/{urllib.parse.quote(ref.wanted, safe='')}")
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def config(self, ref: Reference, digest: str) -> dict[str, Any]:
        """The image config (``{"config": {"Entrypoint": [...], "Cmd": [...]}, ...}``) of the manifest at
        ``digest``; an index picks ``linux/amd64``."""
        manifest = self._document(ref, f"manifests/{digest}", digest)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            manifest = self._document(ref, f"manifests/{_platform_digest(manifest)}")
        config = manifest.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise RegistryError(f"{ref.registry}/{ref.repository}@{digest} is not an image manifest (no config)")
        return self._document(ref, f"blobs/{config['digest']}", config["digest"])

    def _document(self, ref: Reference, path: str, digest: str | None = None) -> dict[str, Any]:
        _, _, body = self._get(ref, path)
        if digest is not None and "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError(f"{ref.registry} answered {path} with content that does not match its digest")
        try:
            value = json.loads(body)
        except ValueError:
            raise RegistryError(f"{ref.registry} answered {path} with something that is not JSON") from None
        if not isinstance(value, dict):
            raise RegistryError(f"{ref.registry} answered {path} with something that is not a JSON object")
        return value

    def _url(self, ref: Reference, path: str) -> str:
        plain = _LOOPBACK.match(ref.registry) or ref.registry in set(self.insecure)
        return f"{'http' if plain else 'https'}://{ref.registry}/v2/{ref.repository}/{path}"

    def _get(self, ref: Reference, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        url = self._url(ref, path)
        key = (ref.registry, ref.repository)
        status, headers, body = self._send(ref, url, method, self._tokens.get(key))
        if status == 401:
            self._tokens[key] = self._authorize(ref, headers.get("www-authenticate", ""))
            status, headers, body = self._send(ref, url, method, self._tokens[key])
        if status == 404:
            raise RegistryError(f"{ref.registry} has no {ref.repository}:{ref.wanted} (manifest unknown)")
        if status in (401, 403):
            hint = "the credentials were refused" if ref.registry in self.credentials else \
                "it needs credentials (a docker config file with auths for this registry)"
            raise RegistryError(f"{ref.registry} refused access to {ref.repository} ({status}): {hint}")
        if status >= 400:
            raise RegistryError(f"{ref.registry} answered {status} for {ref.repository}")
        return status, headers, body

    def _send(self, ref: Reference, url: str, method: str, auth: str | None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
        if auth:
            headers["Authorization"] = auth
        self.requests += 1
        return _fetch(urllib.request.Request(url, method=method, headers=headers), ref.registry, self.timeout)

    def _authorize(self, ref: Reference, challenge: str) -> str:
        """The ``Authorization`` header value that answers the registry's challenge."""
        scheme, _, params = challenge.partition(" ")
        basic = self._basic(ref.registry)
        if scheme.lower() == "basic":
            if basic is None:
                raise RegistryError(f"{ref.registry} asks for a user and password, and none is configured "
                                    "(a docker config file with auths for this registry)")
            return basic
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.get("realm", "")
        if scheme.lower() != "bearer" or not realm.startswith(("https://", "http://")):
            raise RegistryError(f"{ref.registry} asks for an authentication scheme this client does not speak")
        query = {"scope": fields.get("scope") or f"repository:{ref.repository}:pull"}
        if "service" in fields:
            query["service"] = fields["service"]
        headers = {"User-Agent": USER_AGENT, **({"Authorization": basic} if basic else {})}
        request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}", headers=headers)
        self.requests += 1
        status, _, body = _fetch(request, urllib.parse.urlsplit(realm).netloc, self.timeout)
        try:
            answer = json.loads(body) if status == 200 else {}
        except ValueError:
            answer = {}
        token = (answer.get("token") or answer.get("access_token")) if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise RegistryError(f"{ref.registry}'s token service ({urllib.parse.urlsplit(realm).netloc}) gave "
                                f"no pull token for {ref.repository} ({status})")
        return f"Bearer {token}"

    def _basic(self, registry: str) -> str | None:
        found = self.credentials.get(registry)
        if found is None:
            return None
        return "Basic " + base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")


def _platform_digest(index: Mapping[str, Any]) -> str:
    entries = index.get("manifests")
    for entry in entries if isinstance(entries, list) else ():
        platform = entry.get("platform") or {} if isinstance(entry, dict) else {}
        if (platform.get("os"), platform.get("architecture")) == PLATFORM and isinstance(entry.get("digest"), str):
            return str(entry["digest"])
    raise RegistryError(f"the image index has no {'/'.join(PLATFORM)} image")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects (blobs often live on a CDN), but never carries the registry's ``Authorization`` to
    another host: a signed storage URL refuses it, and it is not that host's to see."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_Redirects())


def _fetch(request: urllib.request.Request, host: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT + 1) if request.get_method() != "HEAD" else b""
            if len(body) > MAX_DOCUMENT:
                raise RegistryError(f"{host} answered with more than {MAX_DOCUMENT} bytes")
            return response.status, {k.lower(): v for k, v in response.headers.items()}, body
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RegistryError(f"{host} unreachable: {getattr(exc, 'reason', exc)}") from None
