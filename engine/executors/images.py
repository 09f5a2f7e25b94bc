"""Look up the ENTRYPOINT and CMD of the images whose steps name no command, with an on-disk cache.

Why it exists: the compiler stays pure (``engine.compiler.images`` says which steps need their image's config
and fills the commands in from a mapping); this is the I/O behind that mapping, the ``ImageConfigs`` hook
that ``pipelines.load.compile_run`` is given for ``wishstar run`` (local and Kubernetes), ``runs resume``,
the server's runs and ``wishstar plan``.

The cache lives under the state directory (``<state>/cache/images``): an image's config is kept by manifest
digest for good (a digest names immutable content), so a digest reference that was looked up once never asks
the registry again, and a tag's digest is kept for ``tag_ttl_s`` (5 minutes), after which one ``HEAD`` of the
manifest says whether the tag still names the same digest (the config then comes from the cache). A failed
lookup raises ``ImageLookupFailed`` naming the image, the step and the task, with the reason.

``check_host_entrypoints`` is the local executor's rule: it runs steps as processes on this machine, so an
image's entrypoint runs only when that program exists here too; otherwise the run is refused before it
starts, with the hint to use an executor that runs images.

What it must not do: write anything outside its cache directory, or put a credential into a message.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wishstar.engine.compiler.images import ImageConfig, ImageLookupFailed, ImageNeed
from wishstar.engine.compiler.types import Plan
from wishstar.engine.executors.registry import RegistryClient, RegistryError, parse_reference, read_credentials
from wishstar.engine.spec.errors import WishstarError

TAG_TTL_S = 300.0
"""How long a tag's digest is believed without asking the registry again."""
CACHE_VERSION = 1


class ImageLookup:
    """The ``ImageConfigs`` hook: ``lookup(needs)`` -> image reference -> config, through the cache."""

    def __init__(self, cache_dir: Path, *, insecure: Iterable[str] = (), auth_file: Path | None = None,
                 tag_ttl_s: float = TAG_TTL_S, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.cache_dir = cache_dir
        self.tag_ttl_s = tag_ttl_s
        self.clock = clock
        self._insecure = tuple(insecure)
        self._auth_file = auth_file
        self._timeout = timeout
        self._client: RegistryClient | None = None

    @property
    def requests(self) -> int:
        """HTTP requests made to registries so far (the cache's tests read it)."""
        return self._client.requests if self._client is not None else 0

    def __call__(self, needs: Sequence[ImageNeed]) -> Mapping[str, ImageConfig]:
        configs: dict[str, ImageConfig] = {}
        failed: dict[str, str] = {}
        for need in needs:
            if need.image in configs or need.image in failed:
                continue
            try:
                configs[need.image] = self.config(need.image)
            except RegistryError as exc:
                failed[need.image] = str(exc)
        if failed:
            raise ImageLookupFailed([(need, failed[need.image]) for need in needs if need.image in failed])
        return configs

    def config(self, image: str) -> ImageConfig:
        """The config of one image reference (``RegistryError`` with the reason when it cannot be read)."""
        if "$(" in image:
            raise RegistryError("the image names a value known only when the run starts")
        ref = parse_reference(image)
        digest = ref.digest or self._cached_digest(image)
        if digest is None:
            digest = self.client().digest(ref)
            self._write(self._tag_path(image), {"image": image, "digest": digest, "at": self.clock()})
        found = self._read(self._config_path(digest))
        if found is None:
            document = self.client().config(ref, digest)
            found = {"digest": digest, **_entrypoint_and_cmd(document)}
            self._write(self._config_path(digest), found)
        return ImageConfig(tuple(found["entrypoint"]), tuple(found["cmd"]), digest)

    def client(self) -> RegistryClient:
        if self._client is None:
            self._client = RegistryClient(self._insecure, read_credentials(self._auth_file), self._timeout)
        return self._client

    def _cached_digest(self, image: str) -> str | None:
        found = self._read(self._tag_path(image))
        if found is None or not isinstance(found.get("at"), int | float):
            return None
        fresh = 0 <= self.clock() - found["at"] < self.tag_ttl_s
        return str(found["digest"]) if fresh and found.get("image") == image else None

    def _tag_path(self, image: str) -> Path:
        return self.cache_dir / "tags" / (hashlib.sha256(image.encode()).hexdigest()[:32] + ".json")

    def _config_path(self, digest: str) -> Path:
        return self.cache_dir / "configs" / f"{digest.replace(':', '-')}-linux-amd64.json"

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) and value.get("version") == CACHE_VERSION else None

    def _write(self, path: Path, value: Mapping[str, Any]) -> None:
        """Written to a temporary file and renamed, so concurrent runs never read half a file; a cache that
        cannot be written is only slower."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"version": CACHE_VERSION, **value}), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass


def _entrypoint_and_cmd(document: Mapping[str, Any]) -> dict[str, list[str]]:
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise RegistryError("the image config has no config object")
    out: dict[str, list[str]] = {}
    for key, name in (("Entrypoint", "entrypoint"), ("Cmd", "cmd")):
        value = config.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RegistryError(f"the image config's {key} is not a list of strings")
        out[name] = value
    return out


class LocalEntrypointMissing(WishstarError):
    """Steps whose image entrypoint the local executor cannot run (it is not a program on this machine)."""


def check_host_entrypoints(plan: Plan, path: str | None = None) -> None:
    """Refuse a local run in which a step runs its image's entrypoint and that program is not on this machine
    (``path``: the PATH to search for a bare name; default this process's)."""
    missing: list[str] = []
    for task in plan.all_tasks():
        for step in task.steps:
            if not step.image_entrypoint or not step.command:
                continue
            program = step.command[0]
            found = os.access(program, os.X_OK) if "/" in program else shutil.which(program, path=path)
            if not found:
                missing.append(f"step {step.name} of task {task.name} runs the entrypoint of its image "
                               f"({' '.join(step.command)}), and {program} is not a program on this machine")
    if missing:
        raise LocalEntrypointMissing(
            "\n".join(missing) + "\nthe local executor runs steps as processes on this machine and cannot run an "
            "image's own entrypoint (hint: use --executor kubernetes or podman, or give the step a command)")
