"""What a step's ``podman run``/``docker run`` line holds, and what it never holds (no runtime needed)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.executors.container_support import missing
from wishstar.engine.compiler.types import GitContext, RunContext
from wishstar.engine.executors.container import ContainerError, find_runtime
from wishstar.engine.executors.container import argv as av
from wishstar.engine.executors.container.runtime import client_env, registry_of
from wishstar.pipelines import road


def spec(**changes: object) -> av.StepContainer:
    base = av.StepContainer(name="wishstar-r1-build-a1-s0", image="127.0.0.1:5000/wishstar/busybox:1.35",
                            entrypoint="/bin/sh", args=("-e", "/wishstar/scripts/abc"), workdir="/workspace/src",
                            mounts=(av.Mount("/host/ws", "/workspace/src"), av.Mount("/host/s", "/wishstar/scripts",
                                                                                      read_only=True)),
                            labels=av.labels("r1", "build", 1), env_file="/tmp/private/x.env")
    return av.StepContainer(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["podman", "docker"])
def test_the_run_line_names_the_container_mounts_the_workspace_and_reads_variables_from_the_env_file(
        kind: str) -> None:
    line = av.run_argv(kind, spec())  # type: ignore[arg-type]
    assert line[:4] == ["run", "--rm", "--name", "wishstar-r1-build-a1-s0"]
    assert line[4:6] == ["--pull", "never"]
    assert "--volume" in line and "/host/ws:/workspace/src:rw" in line and "/host/s:/wishstar/scripts:ro" in line
    assert line[line.index("--workdir") + 1] == "/workspace/src"
    assert line[line.index("--env-file") + 1] == "/tmp/private/x.env"
    assert f"{av.LABEL_RUN}=r1" in line
    assert line[-3:] == ["127.0.0.1:5000/wishstar/busybox:1.35", "-e", "/wishstar/scripts/abc"]


def test_podman_gets_the_entrypoint_as_one_json_element_so_it_is_never_split() -> None:
    line = av.run_argv("podman", spec(entrypoint="[not json"))
    assert json.loads(line[line.index("--entrypoint") + 1]) == ["[not json"]
    docker = av.run_argv("docker", spec(entrypoint="[not json"))
    assert docker[docker.index("--entrypoint") + 1] == "[not json"


def test_variables_that_need_the_clients_environment_are_named_without_their_values() -> None:
    line = av.run_argv("podman", spec(client_env_names=("KEY_PEM",)))
    assert line[line.index("--env") + 1] == "KEY_PEM"
    assert not any("=" in item and item.startswith("KEY_PEM") for item in line)


def test_values_go_to_the_env_file_and_only_multi_line_ones_through_the_client() -> None:
    lines, client = av.split_env({"A": "plain value", "PEM": "-----BEGIN-----\nabc\n-----END-----", "B": ""})
    assert lines == ["A=plain value", "B="]
    assert client == {"PEM": "-----BEGIN-----\nabc\n-----END-----"}


@pytest.mark.parametrize("name", ["PATH", "LD_PRELOAD", "DOCKER_HOST", "CONTAINERS_CONF", "HOME"])
def test_a_multi_line_value_is_refused_for_a_name_that_would_steer_the_cli(name: str) -> None:
    with pytest.raises(av.StepEnvError, match=f"env {name}: its value holds a line break"):
        av.split_env({name: "a\nb"})


def test_a_script_runs_from_its_mounted_file_with_sh_unless_it_has_a_shebang() -> None:
    assert av.command_of("/wishstar/scripts/x", False, None, ("a",)) == ("/bin/sh", ("-e", "/wishstar/scripts/x", "a"))
    assert av.command_of("/wishstar/scripts/x", True, None, ("a",)) == ("/wishstar/scripts/x", ("a",))
    assert av.command_of(None, False, ("go", "test"), ("./...",)) == ("go", ("test", "./..."))
    assert av.command_of(None, False, None, ("--version",)) == (None, ("--version",))


def test_working_directories_in_the_checkout_map_under_the_checkout_mount() -> None:
    assert av.in_container("/state/work/r1/checkout", "/state/work/r1/checkout") == av.CHECKOUT_DIR
    assert av.in_container("/state/work/r1/checkout/app/sub", "/state/work/r1/checkout") == \
        f"{av.CHECKOUT_DIR}/app/sub"
    assert av.in_container("/workspace/src", "/state/work/r1/checkout") == "/workspace/src"
    assert av.in_container("/somewhere/else", "/state/work/r1/checkout") is None


def test_container_names_are_distinct_for_matrix_instances_and_valid() -> None:
    a = av.container_name("5ff174a5b931", "test[3.11]", 1, 0)
    b = av.container_name("5ff174a5b931", "test[3.12]", 1, 0)
    assert a != b and a.startswith("wishstar-5ff174a5b931-test-") and a.endswith("-a1-s0")
    assert all(c.isalnum() or c in "-_." for c in a)


def test_the_clients_environment_keeps_only_what_the_cli_reads() -> None:
    env = client_env({"PATH": "/bin", "DOCKER_HOST": "unix:///x", "CONTAINERS_CONF": "/c", "API_TOKEN": "s3cret",
                      "LD_PRELOAD": "/evil.so"})
    assert env == {"PATH": "/bin", "DOCKER_HOST": "unix:///x", "CONTAINERS_CONF": "/c"}


@pytest.mark.parametrize(("image", "registry"), [("127.0.0.1:55050/wishstar/busybox:1.35", "127.0.0.1:55050"),
                                                 ("alpine:3.20", "docker.io"), ("quay.io/buildah/stable:v1", "quay.io"),
                                                 ("library/debian:12", "docker.io"), ("localhost/x:1", "localhost")])
def test_the_registry_of_an_image_is_read_as_docker_reads_it(image: str, registry: str) -> None:
    assert registry_of(image) == registry


@pytest.mark.parametrize(("choice", "says"), [
    ("podman", 'executor "podman": podman is not installed or not on PATH (hint: install it, or use --executor '
               "docker or --executor local)"),
    ("docker", 'executor "docker": docker is not installed'),
    ("container", 'executor "container": neither podman nor docker is installed'),
])
def test_a_runtime_that_is_not_installed_is_a_clear_error(tmp_path, choice: str, says: str) -> None:
    with pytest.raises(ContainerError) as caught:
        find_runtime(choice, {"PATH": str(tmp_path)})
    assert says in str(caught.value)


def test_container_picks_podman_when_both_are_there() -> None:
    if shutil.which("podman") is None:
        missing("needs podman on PATH to tell the choice apart", "CI_REQUIRE_PODMAN")
    assert find_runtime("container", {"PATH": "/usr/local/bin:/usr/bin:/bin"}).kind == "podman"


def test_steps_in_containers_start_from_no_variable_of_this_machine() -> None:
    ctx = RunContext(run_id="r1", number=3, git=GitContext(branch="main"))
    local = road.step_env(ctx, "p", road.Target("local"))
    boxed = road.step_env(ctx, "p", road.Target("podman"))
    assert "PATH" in local and not {"PATH", "HOME", "USER", "SHELL", "TMPDIR"} & set(boxed)
    assert boxed["WISHSTAR_RUN_ID"] == "r1" and boxed["WISHSTAR_GIT_BRANCH"] == "main" and boxed["CI"] == "true"
