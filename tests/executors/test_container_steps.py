"""The container executor with real podman and real docker: images, workspaces, results, failures, stops.

Every test runs once per runtime (``engine`` is parametrized); each asserts that nothing of its run is left
(``podman ps -a`` / ``docker ps -a`` filtered by the run's label).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from tests.executors.container_support import Engine, docker, podman  # noqa: F401  (fixtures)
from tests.executors.support import RecordingSink
from wishstar.engine.compiler.types import WorkspaceBinding
from wishstar.engine.executors.base import ResolvedStep, ResolvedTask, RunEnv
from wishstar.engine.executors.container import ContainerExecutor
from wishstar.engine.executors.container.argv import LABEL_RUN


@pytest.fixture(params=["podman", "docker"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def run(tmp_path: Path) -> RunEnv:
    checkout = tmp_path / "run" / "checkout" / "app"
    checkout.mkdir(parents=True)
    (checkout / "README").write_text("from the checkout\n")
    return RunEnv(run_id=f"t{uuid.uuid4().hex[:11]}", run_dir=str(tmp_path / "run"), checkout_dir=str(checkout),
                  workspaces=("shared",))


def executor(engine: Engine, **kw: object) -> ContainerExecutor:
    return ContainerExecutor(engine.runtime(), default_image=engine.image("busybox"), kill_grace_s=1.0, **kw)  # type: ignore[arg-type]


def step(name: str, script: str | None = None, *, image: str | None = None, env: dict[str, str] | None = None,
         workdir: str = "/workspace/shared", timeout_s: float | None = None,
         command: tuple[str, ...] | None = None, args: tuple[str, ...] = ()) -> ResolvedStep:
    return ResolvedStep(name=name, image=image, script=script, command=command, args=args, env=env or {},
                        working_dir=workdir, timeout_s=timeout_s)


def task(run: RunEnv, *steps: ResolvedStep, name: str = "t", results: tuple[str, ...] = (),
         timeout_s: float | None = None) -> ResolvedTask:
    marked = tuple(replace(s, env={**s.env, "WISHSTAR_RUN_ID": run.run_id}) for s in steps)  # nothing_left
    return ResolvedTask(run_id=run.run_id, name=name, attempt=1, steps=marked, results=results,
                        results_dir="/wishstar/results", workspaces=(WorkspaceBinding("shared", "shared"),),
                        timeout_s=timeout_s)


async def attempt(ex: ContainerExecutor, run: RunEnv, t: ResolvedTask, sink: RecordingSink):  # type: ignore[no-untyped-def]
    await ex.setup(run)
    try:
        return await ex.execute(t, sink)
    finally:
        await ex.teardown(run)


def test_steps_in_different_images_share_the_workspace_and_write_results(engine: Engine, run: RunEnv) -> None:
    sink = RecordingSink()
    t = task(run,
             step("write", "echo made > /workspace/shared/f\nprintf 'v1.2' > /wishstar/results/version\n"
                           "cat /wishstar/checkout/app/README\n", image=engine.image("busybox")),
             step("read", "#!/usr/bin/python3\nimport os\n"
                          "print('python read', open('f').read().strip(), os.getcwd())\n",
                  image=engine.image("debian")),
             step("default-dir", "pwd", workdir=str(Path(run.checkout_dir or "") / "sub")),
             results=("version",))
    outcome = asyncio.run(attempt(executor(engine), run, t, sink))
    assert outcome.status == "succeeded", outcome
    assert outcome.results == {"version": "v1.2"}
    assert sink.text("write") == "from the checkout\n"
    assert sink.text("read") == "python read made /workspace/shared\n"
    assert sink.text("default-dir") == "/wishstar/checkout/app/sub\n"
    assert (Path(run.run_dir) / "workspaces" / "shared" / "f").read_text() == "made\n"
    engine.nothing_left(run.run_id)


def test_a_failing_step_fails_the_task_with_its_exit_code_and_skips_the_rest(engine: Engine, run: RunEnv) -> None:
    sink = RecordingSink()
    t = task(run, step("broken", "echo about to fail >&2\nexit 3"), step("after", "echo never"))
    outcome = asyncio.run(attempt(executor(engine), run, t, sink))
    assert (outcome.status, outcome.exit_code, outcome.reason) == ("failed", 3, "step broken exited with 3")
    assert [s.reason for s in outcome.steps] == ["step broken exited with 3", "skipped"]
    assert sink.text("broken") == "about to fail\n"


def test_a_command_step_replaces_the_entrypoint_and_a_missing_command_says_so(engine: Engine, run: RunEnv) -> None:
    sink = RecordingSink()
    t = task(run, step("cmd", command=("echo", "$(not a shell)"), args=("a b",)),
             step("nope", command=("no-such-tool",)))
    outcome = asyncio.run(attempt(executor(engine), run, t, sink))
    assert sink.text("cmd") == "$(not a shell) a b\n"
    assert outcome.status == "failed" and outcome.exit_code in (126, 127)
    assert outcome.reason is not None and "step nope" in outcome.reason


def test_a_step_timeout_stops_its_container_and_leaves_none(engine: Engine, run: RunEnv) -> None:
    sink = RecordingSink()
    t = task(run, step("slow", "echo started\nsleep 60", timeout_s=1.5), step("after", "echo never"))
    outcome = asyncio.run(attempt(executor(engine), run, t, sink))
    assert (outcome.status, outcome.reason) == ("failed", "step slow timed out after 1.5s")
    assert sink.text("slow").startswith("started\n")
    engine.nothing_left(run.run_id)


def test_cancelling_the_attempt_removes_the_running_container(engine: Engine, run: RunEnv) -> None:
    label = f"{LABEL_RUN}={run.run_id}"

    async def go() -> list[str]:
        started = asyncio.Event()
        sink = RecordingSink(on_write=lambda data: started.set())
        ex = executor(engine)
        await ex.setup(run)
        running = asyncio.create_task(ex.execute(task(run, step("forever", "echo up\nsleep 600")), sink))
        await asyncio.wait_for(started.wait(), 60)
        seen = await asyncio.to_thread(engine.containers, label)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return seen

    seen = asyncio.run(go())
    assert len(seen) == 1 and seen[0].startswith(f"wishstar-{run.run_id}-t-a1-s0")
    engine.nothing_left(run.run_id)


def test_variables_reach_the_step_without_appearing_in_any_command_line(engine: Engine, run: RunEnv) -> None:
    secret, pem = f"s3cret-{uuid.uuid4().hex}", f"-----BEGIN-----\n{uuid.uuid4().hex}\n-----END-----"
    seen_argv: list[str] = []

    def snoop(_data: bytes) -> None:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    seen_argv.append(Path(f"/proc/{entry.name}/cmdline").read_bytes().decode(errors="replace"))

    sink = RecordingSink(on_write=snoop)
    t = task(run, step("use", 'echo "len=${#TOKEN}"; printf %s "$PEM" | wc -l; sleep 0.5',
                       env={"TOKEN": secret, "PEM": pem}))
    outcome = asyncio.run(attempt(executor(engine), run, t, sink))
    assert outcome.status == "succeeded", sink.text("use")
    assert sink.text("use").split() == [f"len={len(secret)}", "2"]
    assert seen_argv and not any(secret in line or "BEGIN" in line for line in seen_argv)
    assert not list(Path(executor(engine).runtime.env.get("TMPDIR", "/tmp")).glob("wishstar-env-*/*.env"))


def test_an_image_that_cannot_be_pulled_fails_the_step_naming_the_image(engine: Engine, run: RunEnv) -> None:
    sink = RecordingSink()
    image = f"{engine.registry}/wishstar/no-such-image:0.0.1"
    outcome = asyncio.run(attempt(executor(engine), run, task(run, step("build", "true", image=image)), sink))
    assert outcome.status == "failed"
    assert outcome.reason is not None and outcome.reason.startswith(f"step build: cannot pull image {image}: ")
    assert f"cannot pull image {image}" in sink.text("build")


def test_a_takeover_removes_the_containers_a_dead_engine_left(engine: Engine, run: RunEnv) -> None:
    name = f"wishstar-{run.run_id}-left-a1-s0"
    started = engine.cli("run", "-d", "--name", name, "--label", f"{LABEL_RUN}={run.run_id}",
                         engine.image("busybox"), "sleep", "600")
    assert started.returncode == 0, started.stderr

    async def go() -> int:
        ex = executor(engine)
        await ex.setup(run)
        return await ex.stop_leftovers(run)

    assert asyncio.run(go()) == 1
    engine.nothing_left(run.run_id)
