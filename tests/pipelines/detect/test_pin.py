"""`wishstar init --pin` asks the registry for each image's digest: tested against a real registry (Debian's
`docker-registry`, distribution 2.8) holding an image pushed with plain HTTP, the way any client pushes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from wishstar.pipelines.detect.pin import DOCKER_HUB, PinError, parse, pin, pin_all, pin_image

REGISTRY = shutil.which("docker-registry")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry on a free loopback port, its storage in a temp dir: its ``host:port``."""
    if REGISTRY is None:
        message = "needs the OCI registry from the Debian package docker-registry (apt-get install docker-registry)"
        if os.environ.get("CI_REQUIRE_REGISTRY") == "1":  # .ci/run installs it: CI never passes by skipping
            pytest.fail(f"CI_REQUIRE_REGISTRY=1 but the test {message}")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                      f"http:\n  addr: {address}\n")
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the registry did not answer on {address}") from None
                time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def send(method: str, url: str, body: bytes = b"", content_type: str = "application/octet-stream"
         ) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers.items())


def push_blob(address: str, repository: str, blob: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    _, headers = send("POST", f"http://{address}/v2/{repository}/blobs/uploads/")
    location = headers["Location"]
    if location.startswith("/"):
        location = f"http://{address}{location}"
    status, _ = send("PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}", blob)
    assert status == 201
    return {"digest": digest, "size": len(blob)}


def push_manifest(address: str, repository: str, tag: str, manifest: dict[str, object], media_type: str) -> str:
    """Pushes ``manifest`` under ``tag``; the digest the registry reports for it."""
    body = json.dumps(manifest).encode()
    status, headers = send("PUT", f"http://{address}/v2/{repository}/manifests/{tag}", body, media_type)
    assert status == 201
    assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    return headers["Docker-Content-Digest"]


def push_image(address: str, repository: str, tag: str) -> str:
    """A one-layer OCI image (a config and a layer blob, then the manifest): its manifest digest."""
    config = push_blob(address, repository, json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": []}}).encode())
    layer = push_blob(address, repository, b"not really a tarball, the registry does not look")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]}
    return push_manifest(address, repository, tag, manifest, OCI_MANIFEST)


def test_pin_returns_the_digest_the_registry_reports_for_the_tag(registry: str) -> None:
    digest = push_image(registry, "library/tiny", "1.0.3")
    assert pin(f"{registry}/library/tiny:1.0.3") == f"{registry}/library/tiny:1.0.3@{digest}"


def test_a_multi_platform_index_pins_to_the_index_not_one_platform(registry: str) -> None:
    platform = push_image(registry, "multi", "2.1-amd64")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": platform, "size": 1, "platform": {"architecture": "amd64",
                                                                              "os": "linux"}}]}
    digest = push_manifest(registry, "multi", "2.1", index, OCI_INDEX)
    assert digest != platform
    assert pin(f"{registry}/multi:2.1") == f"{registry}/multi:2.1@{digest}"


def test_an_unknown_tag_is_a_clear_error_naming_the_image(registry: str) -> None:
    with pytest.raises(PinError, match=r"^no such tag in 127\.0\.0\.1:\d+/missing"):
        pin(f"{registry}/missing:9.9")


def test_an_unreachable_registry_is_one_message_per_image_and_the_others_still_pin(registry: str) -> None:
    digest = push_image(registry, "ok", "1.0")
    dead = f"127.0.0.1:{free_port()}"
    pins, errors = pin_all([f"{dead}/a:1.0", f"{registry}/ok:1.0", f"{dead}/b:2.0"], timeout=2)
    assert pins == {f"{registry}/ok:1.0": f"{registry}/ok:1.0@{digest}"}
    assert [e.split(" unreachable:")[0] for e in errors] == [f"{dead}/a:1.0: {dead}", f"{dead}/b:2.0: {dead}"]


def test_a_mirror_is_asked_for_the_same_repository_and_the_reference_is_kept(registry: str) -> None:
    digest = push_image(registry, "library/alpine", "3.22.2")
    assert pin_image("alpine:3.22.2", mirror=registry) == f"alpine:3.22.2@{digest}"


def test_docker_hub_unreachable_is_said_per_image_without_a_stack_trace() -> None:
    pins, errors = pin_all(["alpine:3.22.2"], timeout=3)
    if pins:  # a machine that can reach Docker Hub pins it
        assert pins["alpine:3.22.2"].startswith("alpine:3.22.2@sha256:")
    else:
        [error] = errors
        assert error.startswith(f"alpine:3.22.2: {DOCKER_HUB} unreachable: "), error
        assert "Traceback" not in error


@pytest.mark.parametrize(("text", "registry", "repository", "tag"), [
    ("golang:1.26.8-bookworm", DOCKER_HUB, "library/golang", "1.26.8-bookworm"),
    ("nginxinc/nginx-unprivileged:1.28.0-alpine", DOCKER_HUB, "nginxinc/nginx-unprivileged", "1.28.0-alpine"),
    ("docker.io/library/alpine:3.22.2", DOCKER_HUB, "library/alpine", "3.22.2"),
    ("mcr.microsoft.com/dotnet/sdk:10.0.100", "mcr.microsoft.com", "dotnet/sdk", "10.0.100"),
    ("localhost:5000/team/app:1", "localhost:5000", "team/app", "1"),
], ids=["hub-short", "hub-org", "docker-io", "mcr", "localhost-port"])
def test_references_split_the_way_docker_splits_them(text: str, registry: str, repository: str, tag: str) -> None:
    ref = parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)


def test_an_already_pinned_reference_is_refused_with_a_reason() -> None:
    with pytest.raises(PinError, match="already pinned"):
        parse("alpine:3.22.2@sha256:" + "0" * 64)


def test_a_pin_replaces_the_tag_in_the_generated_dockerfile(registry: str, tmp_path: Path) -> None:
    from tests.pipelines.detect.render_cases import FIXTURES, detection_of
    from wishstar.pipelines.generate import generate

    detection = detection_of(FIXTURES / "go-gin-api")
    image = f"{registry}/library/golang:1.25.4-bookworm"
    digest = push_image(registry, "library/golang", "1.25.4-bookworm")
    pins, errors = pin_all([image])
    assert errors == []
    files = generate(detection, name="gin", has_file=lambda rel: False,
                     pins={"golang:1.25.4-bookworm": pins[image]}).files
    assert f"FROM {image}@{digest} AS build" in files["Dockerfile"]


def test_init_pin_asks_the_mirror_for_every_base_image_and_writes_the_digests(registry: str, tmp_path: Path
                                                                               ) -> None:
    import subprocess
    import sys

    from tests.webhook.test_worker_zero_config import GO_PROJECT

    for rel, text in GO_PROJECT.items():
        (tmp_path / rel).write_text(text)
    argv = [sys.executable, "-m", "wishstar.cli", "init", str(tmp_path), "--pin"]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "nothing written" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "Dockerfile").exists()
    digests = {ref: push_image(registry, f"library/{ref.split(':')[0]}", ref.split(":")[1])
               for ref in ("golang:1.26.8-bookworm", "alpine:3.22.2")}
    done = subprocess.run([*argv, "--mirror", registry], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    dockerfile = (tmp_path / "Dockerfile").read_text()
    for ref, digest in digests.items():
        assert f"{ref}@{digest}" in dockerfile
    assert f"image: \"golang:1.26.8-bookworm@{digests['golang:1.26.8-bookworm']}\"" in (
        tmp_path / ".wishstar.yaml").read_text()
