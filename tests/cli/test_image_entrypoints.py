"""A step that names only an image runs that image's ENTRYPOINT (with CMD, or the step's args instead), for real:
`wishstar run` on this machine, `wishstar plan --output yaml`, and the local executor's refusal when the
entrypoint is not a program here. The images are pushed by buildah to a registry the test starts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Cli
from tests.oci import Buildah, Registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    running = Registry(tmp_path_factory.mktemp("registry"))
    yield running.start()
    running.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict[str, str]:
    buildah = Buildah(tmp_path_factory.mktemp("buildah"))
    return {
        "echo": buildah.push_image(registry, "test/echo:1", entrypoint=["/bin/busybox", "echo", "from-the-entrypoint"],
                                   cmd=["default-cmd"]),
        "elsewhere": buildah.push_image(registry, "test/elsewhere:1", entrypoint=["/opt/not-on-this-host/app"],
                                        cmd=None),
    }


def pipeline(image: str) -> str:
    return f"""
name: entry
tasks:
  greet:
    steps:
      - {{name: plain, image: "{image}"}}
      - {{name: with-args, image: "{image}", args: [given, args]}}
"""


def test_a_local_run_runs_the_images_entrypoint_and_its_output_is_in_the_log(
        cli: Cli, make_repo: Callable[..., Path], images: dict[str, str]) -> None:
    repo = make_repo(pipeline(images["echo"]))
    result = cli("run", str(repo), "--no-progress")
    assert result.code == 0, result.stderr
    log = cli("logs", "entry#1", "greet")
    assert log.code == 0, log.stderr
    assert "from-the-entrypoint default-cmd" in log.stdout
    assert "from-the-entrypoint given args" in log.stdout  # args replace CMD, as in Tekton and Kubernetes


def test_plan_prints_the_images_entrypoint_as_the_steps_command(
        cli: Cli, make_repo: Callable[..., Path], images: dict[str, str]) -> None:
    repo = make_repo(pipeline(images["echo"]))
    result = cli("plan", str(repo), "--output", "yaml", "--namespace", "ci")
    assert result.code == 0, result.stderr
    pod = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Pod")
    plain, with_args = pod["spec"]["containers"]
    assert plain["image"] == images["echo"]
    assert plain["args"][plain["args"].index("--") + 1:] == ["/bin/busybox", "echo", "from-the-entrypoint",
                                                            "default-cmd"]
    assert with_args["args"][with_args["args"].index("--") + 1:] == ["/bin/busybox", "echo",
                                                                    "from-the-entrypoint", "given", "args"]


def test_a_local_run_refuses_an_entrypoint_that_is_not_on_this_machine_before_it_starts(
        cli: Cli, make_repo: Callable[..., Path], images: dict[str, str]) -> None:
    repo = make_repo(pipeline(images["elsewhere"]))
    result = cli("run", str(repo), "--no-progress")
    assert result.code != 0 and "Traceback" not in result.stderr
    assert ("step plain of task greet runs the entrypoint of its image (/opt/not-on-this-host/app), and "
            "/opt/not-on-this-host/app is not a program on this machine") in result.stderr
    assert "cannot run an image's own entrypoint (hint: use --executor kubernetes or podman" in result.stderr
    assert cli("runs", "list").stdout.count("entry") == 0  # refused before a run was recorded


def test_a_run_whose_registry_is_down_names_the_image_step_and_task(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(pipeline("127.0.0.1:9/test/echo:1"))
    result = cli("run", str(repo), "--no-progress")
    assert result.code != 0 and "Traceback" not in result.stderr
    assert ("cannot look up the entrypoint of image 127.0.0.1:9/test/echo:1 for step plain of task greet: "
            "127.0.0.1:9 unreachable") in result.stderr
    assert "hint: give the step a command, or make the registry reachable" in result.stderr
