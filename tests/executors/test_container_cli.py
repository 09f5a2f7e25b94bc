"""``wishstar run --executor podman`` (and docker) end to end: a real checkout, real containers, the store.

The history, ``wishstar logs``, results between tasks, exit codes, secrets, Ctrl-C and ``runs cancel`` must
be what they are with the local executor; nothing may be left running afterwards.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, cli, make_repo  # noqa: F401  (fixtures)
from tests.executors.container_support import Engine, docker, podman  # noqa: F401  (fixtures)
from wishstar.engine.executors.container.argv import LABEL_RUN

PIPELINE = """
    name: boxes
    workspaces: [shared]
    image: {busybox}
    tasks:
      build:
        workspaces: [shared]
        results: [version]
        steps:
          - name: write
            script: |
              echo "building in $PWD as $(id -u)"
              echo artifact > $(workspaces.shared.path)/out.txt
              printf '1.4.2' > $(results.version.path)
          - name: inspect
            image: {debian}
            script: |
              #!/usr/bin/python3
              print("python3 sees", open("/workspace/shared/out.txt").read().strip())
      ship:
        needs: [build]
        workspaces: [shared]
        env:
          VERSION: $(tasks.build.results.version)
          TOKEN: {{secret: DEPLOY_TOKEN}}
        script: |
          echo "shipping $VERSION with $TOKEN"
          ls /wishstar/checkout
"""


def boxes(make_repo, engine: Engine) -> Path:  # type: ignore[no-untyped-def]  # noqa: F811
    return make_repo(PIPELINE.format(busybox=engine.image("busybox"), debian=engine.image("debian")),  # type: ignore[no-any-return]
                     {"README.md": "hello\n"})


def env_of(engine: Engine) -> dict[str, str]:
    return {**engine.env, "WISHSTAR_CONTAINER_INSECURE_REGISTRIES": engine.registry, "DEPLOY_VALUE": "tok-9f8e7d"}


@pytest.mark.parametrize("which", ["podman", "docker"])
def test_a_pipeline_runs_each_step_in_its_image_with_results_logs_and_masked_secrets(
        request: pytest.FixtureRequest, cli: Cli, make_repo, which: str) -> None:  # noqa: F811
    engine: Engine = request.getfixturevalue(which)
    result = cli("run", str(boxes(make_repo, engine)), "--executor", which, "--secret", "DEPLOY_TOKEN=DEPLOY_VALUE",
                 "--no-progress", "--output", "json", env=env_of(engine))
    assert result.code == 0, result.stderr
    run = result.json()
    tasks = {t["name"]: t for t in run["tasks"]}
    assert run["status"] == "succeeded" and tasks["build"]["results"] == {"version": "1.4.2"}
    assert "images are recorded, not used" not in result.stderr
    build = cli("logs", run["id"], "build").stdout
    assert "building in /workspace/shared as 0" in build and "python3 sees artifact" in build
    ship = cli("logs", run["id"], "ship").stdout
    assert "shipping 1.4.2 with ***" in ship and "README.md" in ship
    assert "tok-9f8e7d" not in ship
    engine.nothing_left(run["id"])


def test_a_failing_step_fails_the_run_with_the_containers_exit_code(cli: Cli, make_repo, podman: Engine) -> None:  # noqa: F811
    repo = make_repo(f"""
        name: failing
        image: {podman.image("busybox")}
        tasks:
          broken:
            script: |
              echo about to fail
              exit 7
    """)
    result = cli("run", str(repo), "--executor", "podman", "--no-progress", "--output", "json", env=env_of(podman))
    assert result.code == 1
    task = result.json()["tasks"][0]
    assert (task["status"], task["exit_code"], task["reason"]) == ("failed", 7, "step run exited with 7")


def test_an_image_that_cannot_be_pulled_is_named_with_its_step(cli: Cli, make_repo, podman: Engine) -> None:  # noqa: F811
    image = f"{podman.registry}/wishstar/absent:9.9.9"
    repo = make_repo(f"""
        name: noimage
        tasks:
          build:
            steps:
              - name: compile
                image: {image}
                script: "true"
    """)
    result = cli("run", str(repo), "--executor", "podman", "--no-progress", "--output", "json", env=env_of(podman))
    assert result.code == 1
    reason = result.json()["tasks"][0]["reason"]
    assert reason.startswith(f"step compile: cannot pull image {image}: "), reason


def test_a_missing_runtime_is_refused_before_a_run_is_recorded(cli: Cli, make_repo, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo("name: x\ntasks:\n  a:\n    script: 'true'\n")
    bin_dir = tmp_path / "bin"  # git and nothing else
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    result = cli("run", str(repo), "--executor", "docker", "--no-progress", env={"PATH": str(bin_dir)})
    assert result.code != 0
    assert 'executor "docker": docker is not installed or not on PATH' in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []


def _start_sleeper(cli: Cli, make_repo, engine: Engine, timeout: str = "",  # noqa: F811
                   repo: str = "repo") -> subprocess.Popen[str]:
    path = make_repo(f"""
        name: sleeper
        image: {engine.image("busybox")}
        {timeout}
        tasks:
          wait:
            script: |
              echo up
              sleep 600
    """, name=repo)
    return cli.start("run", str(path), "--executor", "podman", "--no-progress", "--output", "json",
                     env=env_of(engine))


def _running(engine: Engine, pipeline_label: str = LABEL_RUN) -> list[str]:
    done = engine.cli("ps", "--filter", f"label={pipeline_label}", "--filter", "name=-wait-a1-s0",
                      "--format", "{{.Names}}")
    return done.stdout.split()


def _wait_for(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_ctrl_c_removes_the_running_container(cli: Cli, make_repo, podman: Engine) -> None:  # noqa: F811
    proc = _start_sleeper(cli, make_repo, podman)
    try:
        _wait_for(lambda: _running(podman), "the step's container")
        name = _running(podman)[0]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and json.loads(out)["status"] == "cancelled"
    podman.nothing_left(name.split("-")[1])


def test_runs_cancel_and_a_pipeline_timeout_remove_the_container(cli: Cli, make_repo, podman: Engine) -> None:  # noqa: F811
    proc = _start_sleeper(cli, make_repo, podman)
    try:
        _wait_for(lambda: _running(podman), "the step's container")
        run_id = _running(podman)[0].split("-")[1]
        assert cli("runs", "cancel", run_id).code == 0
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert json.loads(out)["status"] == "cancelled"
    podman.nothing_left(run_id)
    timed = _start_sleeper(cli, make_repo, podman, timeout="timeout: 3s", repo="timed")
    out, _ = timed.communicate(timeout=120)
    run = json.loads(out)
    assert run["status"] == "failed" and "timed out" in (run["tasks"][0]["reason"] or "")
    podman.nothing_left(run["id"])
