"""What the image-build tests share: a sample app in a git repository served by ``git daemon``, the local
registry's view of a pushed image, and the builder images built here.

The registry (scripts/registry.sh) and the git daemon listen on 127.0.0.1 only, so the build Pods on the real node
join the host network (``hostNetwork``, added by the tests' manifest source): a real Harbor or GitLab has a
routable address and needs no such thing. Nothing here fakes a builder or a registry.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.k8s.node import SCRIPTS

IMAGE_BUILD_TASK = """\
  image:
    uses: image-build@1
    needs: [checkout]
    workspaces: {source: source}
    with:
      IMAGE: '@REPOSITORY@'
      BUILDER: '@BUILDER@'
      INSECURE_REGISTRY: "true"
      REGISTRY_MIRROR: '@REGISTRY@/mirror'
"""
"""The pipeline task both tests run (after their own ``checkout``); fill in the ``@NAME@`` values with ``fill``."""

MANIFEST_ACCEPT = ("application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json,"
                   " application/vnd.oci.image.index.v1+json")

DOCKERFILE = """\
FROM python:3.11-slim-bookworm
# the slow, cacheable part: stands in for installing dependencies
RUN python3 -c "import time; time.sleep(4)" && echo dependencies > /deps.txt
WORKDIR /app
COPY app.py /app/app.py
CMD ["python3", "/app/app.py"]
"""


def unavailable(reason: str) -> None:
    """Fail under CI_REQUIRE_KUBERNETES=1 or CI_REQUIRE_REGISTRY=1 (the builders, the registry and buildah are
    meant to be there), else skip with the reason."""
    for variable in ("CI_REQUIRE_KUBERNETES", "CI_REQUIRE_REGISTRY"):
        if os.environ.get(variable) == "1":
            pytest.fail(f"{variable}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def build_images(*names: str) -> dict[str, str]:
    """scripts/images.sh build NAMES: the references, by name (cached: seconds when nothing changed)."""
    done = subprocess.run([str(SCRIPTS / "images.sh"), "build", *names], capture_output=True, text=True,
                          timeout=1800, check=False)
    if done.returncode != 0:
        unavailable(f"scripts/images.sh build {' '.join(names)} failed:\n{done.stderr[-3000:]}")
    return dict(zip(names, done.stdout.split(), strict=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


@dataclass
class SampleRepo:
    """A working tree whose commits are pushed to a bare repository that ``git daemon`` serves."""

    work: Path
    url: str

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD")


@contextmanager
def served_repo(tmp_path: Path) -> Iterator[SampleRepo]:
    """An empty sample repository served on 127.0.0.1 by ``git daemon`` while the block runs."""
    base = tmp_path / "git"
    bare = base / "app.git"
    bare.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = tmp_path / "app"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(bare))
    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
                               "--listen=127.0.0.1", f"--port={port}", str(base)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port)
        yield SampleRepo(work, f"git://127.0.0.1:{port}/app.git")
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"git daemon did not listen on 127.0.0.1:{port}")


def registry_digest(registry: str, repository: str, tag: str) -> str:
    """The digest the registry reports for REPOSITORY:TAG (Docker-Content-Digest of the manifest)."""
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": MANIFEST_ACCEPT})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every ``@NAME@`` replaced by ``values[NAME]``."""
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def app_source(greeting: str) -> str:
    return f'print("{greeting}")\n'
