"""A real OCI registry (Debian's ``docker-registry``) started by a test, and images pushed to it with buildah.

For the image-entrypoint lookups: the registry writes an access log, so a test can count the requests that
reached it, and can be stopped, so a test can show that a cached answer needs no registry at all. Images are
built FROM scratch around Debian's static busybox (``/bin/busybox``, plus ``/bin/sh`` so Wishstar's step
entrypoint can run in them), with the ENTRYPOINT and CMD the test asks for.

Without the registry or buildah a test skips saying what to install; under CI (``CI_REQUIRE_REGISTRY=1``,
where .ci/run installs both) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACCESS_MARK = '"wishstar-image-lookup"'
"""The user agent of Wishstar's lookups, as the access log quotes it."""


def require(tool: str, package: str) -> str:
    """The path of ``tool``; a skip naming the Debian package when it is missing (a failure under CI)."""
    found = shutil.which(tool)
    if found is None:
        message = f"needs {tool} (apt-get install {package})"
        if os.environ.get("CI_REQUIRE_REGISTRY") == "1":
            pytest.fail(f"CI_REQUIRE_REGISTRY=1 but the test {message}")
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    """One ``docker-registry serve`` on a free loopback port, storage and access log in ``root``."""

    root: Path
    address: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    process: subprocess.Popen[bytes] | None = None
    auth: str = ""
    """An ``auth:`` block for the registry's config (YAML), e.g. token authentication; none by default."""

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def start(self) -> Registry:
        binary = require("docker-registry", "docker-registry")
        config = self.root / "config.yml"
        config.write_text(f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: false}}}}\nstorage:\n"
                          f"  filesystem:\n    rootdirectory: {self.root}/data\nhttp:\n  addr: {self.address}\n"
                          + self.auth)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError:  # 401 from a registry with authentication: it answers
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the registry did not answer on {self.address}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def lookups(self) -> list[str]:
        """The access-log lines of Wishstar's lookups (``"HEAD /v2/... HTTP/1.1" 200 ...``), in order."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return [line.split('"', 2)[1] for line in text.splitlines() if line.endswith(ACCESS_MARK)]


@dataclass
class Buildah:
    """buildah with its storage in a temp dir (vfs: no overlay mounts needed)."""

    root: Path

    def __post_init__(self) -> None:
        self.binary = require("buildah", "buildah")
        require("busybox", "busybox-static")

    def run(self, *args: str) -> str:
        argv = [self.binary, "--root", str(self.root / "root"), "--runroot", str(self.root / "runroot"),
                "--storage-driver", "vfs", *args]
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout.strip()

    def push_image(self, registry: Registry, name: str, *, entrypoint: list[str] | None,
                   cmd: list[str] | None) -> str:
        """Build ``name`` (FROM scratch + busybox) with that ENTRYPOINT and CMD, push it: its reference."""
        context = self.root / "context"
        if not context.exists():
            (context / "bin").mkdir(parents=True)
            shutil.copy("/bin/busybox", context / "bin" / "busybox")
            (context / "bin" / "sh").symlink_to("busybox")
        container = self.run("from", "scratch")
        self.run("copy", container, f"{context}/", "/")
        self.run("config", "--entrypoint", json.dumps(entrypoint or []), "--cmd", json.dumps(cmd or []),
                 container)
        self.run("commit", "-q", "--rm", container, name)
        reference = f"{registry.address}/{name}"
        self.run("push", "--tls-verify=false", name, f"docker://{reference}")
        return reference
