"""image-build with the local executor: buildah on this machine, no cluster ("buildah also works outside one").

``wishstar run``'s own code path (``cli.run_cmd.execute``, local executor, a SQLite store) runs a committed
pipeline whose task is ``image-build`` with BUILDER=buildah: the host's buildah (Debian's 1.28) builds the sample
Dockerfile, its ``FROM python:3.11-slim-bookworm`` resolved through the registry mirror (scripts/images.sh builds
mirror/docker.io/library/python), and pushes to the local registry (scripts/registry.sh). buildah's storage is a
directory of the test's own (CONTAINERS_STORAGE_CONF from the pipeline's env), so the machine's is untouched.
With BUILDER=kaniko the task refuses to run outside kaniko's own image: kaniko would unpack the base over /.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.image_build_support import (
    DOCKERFILE,
    IMAGE_BUILD_TASK,
    app_source,
    build_images,
    fill,
    git,
    registry_digest,
    unavailable,
)
from wishstar.cli.common import settings
from wishstar.cli.run_cmd import RunRequest, execute
from wishstar.engine.store import shape
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore
from wishstar.tasks import Library

pytestmark = pytest.mark.timeout(900)

PIPELINE = """\
name: app
env:
  CONTAINERS_STORAGE_CONF: '@STORAGE@'
workspaces: [source]
tasks:
  checkout:
    # the checkout is this task's directory; the workspace is referred to, not mapped (implicit binding)
    script: cp -a . "$(workspaces.source.path)/"
""" + IMAGE_BUILD_TASK


@pytest.fixture(scope="module")
def mirror() -> str:
    if shutil.which("buildah") is None:
        unavailable("buildah is not installed (Debian package buildah; scripts/images.sh installs it)")
    return build_images("mirror-python")["mirror-python"]


def project(tmp_path: Path, repository: str, builder: str, dockerfile: str) -> Path:
    storage = tmp_path / "storage"
    storage.mkdir()
    conf = storage / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{storage}/root"\nrunroot = "{storage}/run"\n')
    text = fill(PIPELINE, {"STORAGE": str(conf), "REPOSITORY": repository, "BUILDER": builder,
                           "REGISTRY": repository.split("/", 1)[0]})
    work = tmp_path / "app"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for name, body in {".wishstar.yaml": text, "Dockerfile": dockerfile, "app.py": app_source("local")}.items():
        (work / name).write_text(body)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "app")
    return work


def run_local(tmp_path: Path, work: Path) -> tuple[dict[str, Any], str]:
    state = tmp_path / "state"
    cfg = settings(state)
    with Store.open(None, state) as store:
        run_id, _ = execute(RunRequest(source=str(work), progress=False), cfg, store, Library())
        data = shape.run_dict(store.get_run(run_id))
    leftover = mounts_under(tmp_path / "storage")
    assert leftover == [], f"buildah left mounts behind on the host: {leftover}"
    logs = LogStore(state)
    text = "\n".join(p.read_text(errors="replace") for p in sorted(logs.root.rglob("*")) if p.is_file())
    return data, text


def mounts_under(directory: Path) -> list[str]:
    """Mount points below ``directory``: buildah's overlay storage must release them when the step ends."""
    prefix = f"{directory}/"
    with open("/proc/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


def test_buildah_on_the_host_builds_through_the_mirror_and_pushes_the_commit_tag(tmp_path: Path,
                                                                                 mirror: str) -> None:
    registry = mirror.split("/", 1)[0]
    repository = f"{registry}/wishstar-test/local-{tmp_path.name[-12:].lower().strip('_')}"
    work = project(tmp_path, repository, "buildah", DOCKERFILE)
    commit = git(work, "rev-parse", "HEAD")
    data, log = run_local(tmp_path, work)
    assert data["status"] == "succeeded", (data, log[-4000:])
    results = {t["name"]: t for t in data["tasks"]}["image"]["results"]
    assert results["IMAGE_URL"] == f"{repository}:{commit[:8]}"
    assert results["IMAGE_DIGEST"] == registry_digest(registry, repository.split("/", 1)[1], commit[:8])
    assert "BUILDER is buildah: the kaniko step has nothing to do" in log


def test_a_broken_dockerfile_fails_with_buildahs_message(tmp_path: Path, mirror: str) -> None:
    registry = mirror.split("/", 1)[0]
    broken = textwrap.dedent("""\
        FROM python:3.11-slim-bookworm
        RUN echo "about to fail" && exit 7
        """)
    work = project(tmp_path, f"{registry}/wishstar-test/local-broken", "buildah", broken)
    data, log = run_local(tmp_path, work)
    assert data["status"] == "failed"
    assert "about to fail" in log and "exit status 7" in log, log[-3000:]


def test_kaniko_refuses_to_run_outside_its_own_container(tmp_path: Path, mirror: str) -> None:
    registry = mirror.split("/", 1)[0]
    work = project(tmp_path, f"{registry}/wishstar-test/local-kaniko", "kaniko", DOCKERFILE)
    data, log = run_local(tmp_path, work)
    assert data["status"] == "failed"
    assert "kaniko runs only inside its own container image" in log, log[-2000:]


def test_an_image_param_with_a_tag_is_refused_before_any_build(tmp_path: Path) -> None:
    work = project(tmp_path, "127.0.0.1:1/wishstar-test/app:1.0", "buildah", DOCKERFILE)
    data, log = run_local(tmp_path, work)
    assert data["status"] == "failed"
    assert ("image-build: IMAGE '127.0.0.1:1/wishstar-test/app:1.0' carries a tag or digest: give the repository "
            "alone and the tag as TAG") in log
    assert "STEP 1" not in log
