"""The entrypoint lookup for steps that name only an image, against a real registry with images pushed by
buildah: what it reads, what its cache saves (counted in the registry's access log, or with the registry
stopped), and what it says when the registry cannot be reached."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci import Buildah, Registry, free_port
from wishstar.engine.compiler.images import ImageLookupFailed, ImageNeed
from wishstar.engine.executors.images import TAG_TTL_S, ImageLookup
from wishstar.engine.executors.registry import (
    DOCKER_HUB,
    RegistryClient,
    RegistryError,
    parse_reference,
    read_credentials,
)

ENTRYPOINT = ["/bin/busybox", "echo", "from-the-entrypoint"]


@pytest.fixture(scope="module")
def buildah(tmp_path_factory: pytest.TempPathFactory) -> Buildah:
    return Buildah(tmp_path_factory.mktemp("buildah"))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = Registry(tmp_path / "registry")
    running.root.mkdir()
    yield running.start()
    running.stop()


@pytest.fixture
def image(buildah: Buildah, registry: Registry) -> str:
    return buildah.push_image(registry, "test/entry:1", entrypoint=ENTRYPOINT, cmd=["default-cmd"])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_lookup_reads_the_entrypoint_and_cmd_the_image_was_built_with(image: str, registry: Registry,
                                                                          tmp_path: Path) -> None:
    lookup = ImageLookup(tmp_path / "cache")
    configs = lookup([ImageNeed(image, "greet", "hello"), ImageNeed(image, "greet", "again")])
    config = configs[image]
    assert (config.entrypoint, config.cmd) == (tuple(ENTRYPOINT), ("default-cmd",))
    assert config.digest is not None and config.digest.startswith("sha256:")
    # one image, asked once: the tag's digest, the manifest, the config blob
    assert [line.split()[0] for line in registry.lookups()] == ["HEAD", "GET", "GET"]
    assert "/blobs/sha256:" in registry.lookups()[-1]


def test_an_image_without_entrypoint_gives_its_cmd(buildah: Buildah, registry: Registry, tmp_path: Path) -> None:
    reference = buildah.push_image(registry, "test/cmd-only:1", entrypoint=None, cmd=["/bin/busybox", "true"])
    config = ImageLookup(tmp_path / "cache").config(reference)
    assert (config.entrypoint, config.cmd) == ((), ("/bin/busybox", "true"))


def test_a_digest_looked_up_once_is_answered_from_the_cache_with_the_registry_stopped(
        image: str, registry: Registry, tmp_path: Path) -> None:
    first = ImageLookup(tmp_path / "cache").config(image)
    pinned = f"{image}@{first.digest}"
    assert ImageLookup(tmp_path / "cache").config(pinned) == first  # same digest: no request at all
    registry.stop()
    again = ImageLookup(tmp_path / "cache")
    assert again.config(pinned) == first
    assert again.requests == 0


def test_a_tag_past_its_time_to_live_costs_one_head_and_its_config_comes_from_the_cache(
        image: str, registry: Registry, tmp_path: Path) -> None:
    clock = Clock()
    ImageLookup(tmp_path / "cache", clock=clock).config(image)
    before = len(registry.lookups())
    clock.now += TAG_TTL_S / 2
    ImageLookup(tmp_path / "cache", clock=clock).config(image)
    assert len(registry.lookups()) == before  # within the time to live: the registry is not asked
    clock.now += TAG_TTL_S
    ImageLookup(tmp_path / "cache", clock=clock).config(image)
    new = registry.lookups()[before:]
    assert len(new) == 1 and new[0].startswith("HEAD /v2/test/entry/manifests/1 ")


def test_a_moved_tag_is_read_again_after_its_time_to_live(buildah: Buildah, image: str, registry: Registry,
                                                          tmp_path: Path) -> None:
    clock = Clock()
    ImageLookup(tmp_path / "cache", clock=clock).config(image)
    buildah.push_image(registry, "test/entry:1", entrypoint=["/bin/busybox", "echo", "moved"], cmd=None)
    clock.now += TAG_TTL_S + 1
    config = ImageLookup(tmp_path / "cache", clock=clock).config(image)
    assert (config.entrypoint, config.cmd) == (("/bin/busybox", "echo", "moved"), ())


def test_an_unreachable_registry_is_one_message_naming_the_image_the_step_and_the_task(tmp_path: Path) -> None:
    image = f"127.0.0.1:{free_port()}/team/tool:1.0"
    with pytest.raises(ImageLookupFailed) as failed:
        ImageLookup(tmp_path / "cache")([ImageNeed(image, "lint", "scan"), ImageNeed("x:1@sha256:abc", "b", "c")])
    lines = str(failed.value).splitlines()
    assert lines[0].startswith(f"cannot look up the entrypoint of image {image} for step scan of task lint: "
                               f"127.0.0.1:")
    assert "unreachable" in lines[0]
    assert lines[0].endswith("; hint: give the step a command, or make the registry reachable")
    assert lines[1].startswith("cannot look up the entrypoint of image x:1@sha256:abc for step c of task b: "
                               "'sha256:abc' is not a sha256 digest")


def test_an_unknown_tag_says_so(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"has no test/nothing:9 \(manifest unknown\)"):
        ImageLookup(tmp_path / "cache").config(f"{registry.address}/test/nothing:9")


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("busybox", DOCKER_HUB, "library/busybox", "latest", None),
    ("docker.io/alpine/git:v2.45.2", DOCKER_HUB, "alpine/git", "v2.45.2", None),
    ("gcr.io/tekton-releases/git-init@sha256:" + "a" * 64, "gcr.io", "tekton-releases/git-init", None,
     "sha256:" + "a" * 64),
    ("localhost:5000/team/app:1@sha256:" + "b" * 64, "localhost:5000", "team/app", "1", "sha256:" + "b" * 64),
], ids=["hub-short", "hub-tag", "digest-only", "tag-and-digest"])
def test_references_split_as_docker_splits_them(text: str, registry: str, repository: str, tag: str | None,
                                               digest: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_docker_config_credentials_are_read_per_registry(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubuser:hubpass").decode()},
        "harbor.example.com": {"username": "robot$ci", "password": "s3cret"},
        "broken.example.com": {"auth": 7}}}))
    assert read_credentials(path) == {DOCKER_HUB: ("hubuser", "hubpass"),
                                      "harbor.example.com": ("robot$ci", "s3cret")}
    assert read_credentials(tmp_path / "missing.json") == {}


def test_a_registry_that_wants_credentials_is_refused_without_showing_any(tmp_path: Path) -> None:
    client = RegistryClient(credentials={"127.0.0.1:1": ("user", "hunter2")}, timeout=2)
    with pytest.raises(RegistryError) as failed:
        client.digest(parse_reference("127.0.0.1:1/team/app:1"))
    assert "hunter2" not in str(failed.value) and "unreachable" in str(failed.value)
