"""Real podman and docker for the container executor's tests: configured once, images from the local registry.

podman runs with a configuration of the tests' own (../shared/notes/containers.md: runtime runc, cgroupfs,
ulimits this machine can grant) and ONE storage.conf, the same file from the very first call (mixing storage
settings makes every call hang), kept under ~/.cache/wishstar/podman-tests so pulled images survive sessions.
dockerd is started by hand for the session, with its own data, exec root and socket, and stopped by PID.
Images are the ones ``scripts/images.sh`` builds into the local registry (``scripts/registry.sh``).

A missing runtime skips with the reason, but fails under CI (``CI_REQUIRE_PODMAN=1``, ``CI_REQUIRE_DOCKER=1``),
where .ci/run installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wishstar.engine.executors import procs
from wishstar.engine.executors.container import Runtime, find_runtime
from wishstar.engine.executors.container.argv import LABEL_RUN

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("WISHSTAR_CACHE", str(Path.home() / ".cache" / "wishstar")))

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def missing(what: str, variable: str) -> None:
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {what}")
    pytest.skip(what)


@dataclass(frozen=True)
class Engine:
    """One container runtime ready for tests: the environment its CLI (and ``wishstar``) runs with."""

    kind: str
    env: dict[str, str]
    registry: str

    def runtime(self) -> Runtime:
        return find_runtime(self.kind, {**os.environ, **self.env}, (self.registry,))

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.kind, *args], env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def containers(self, label: str) -> list[str]:
        """Every container (running or not) with the label: what a test asserts is empty."""
        done = self.cli("ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}")
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def nothing_left(self, run_id: str) -> None:
        """No container of the run is known to the runtime, and no process of its steps runs on this machine
        (found by ``WISHSTAR_RUN_ID`` in their environment: a container the runtime forgot still counts)."""
        assert self.containers(f"{LABEL_RUN}={run_id}") == []
        deadline = time.monotonic() + 10  # killed processes linger as zombies for a moment here
        while (left := procs.leftovers(run_id)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == set(), f"processes of run {run_id} still run: {sorted(left)}"

    def image(self, name: str) -> str:
        tag = {"busybox": "1.35", "debian": "bookworm"}[name]
        return f"{self.registry}/wishstar/{name}:{tag}"


def images_registry() -> str:
    """The local registry's host:port, with wishstar/busybox and wishstar/debian in it (built if missing)."""
    done = subprocess.run([str(ROOT / "scripts" / "images.sh"), "build", "busybox", "debian"], capture_output=True,
                          text=True, timeout=1800, check=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/images.sh build busybox debian failed:\n{done.stderr[-3000:]}")
    return done.stdout.split()[0].split("/", 1)[0]


def podman_engine() -> Engine:
    if shutil.which("podman") is None:
        missing("the podman tests need podman (apt-get install podman)", "CI_REQUIRE_PODMAN")
    home = CACHE / "podman-tests"
    home.mkdir(parents=True, exist_ok=True)
    conf, storage = home / "containers.conf", home / "storage.conf"
    conf.write_text(CONTAINERS_CONF)
    wanted = f'[storage]\ndriver = "overlay"\ngraphroot = "{home}/storage"\nrunroot = "{home}/run"\n'
    if not storage.exists() or storage.read_text() != wanted:
        storage.write_text(wanted)
    env = {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}
    return Engine("podman", env, images_registry())


def _dockerd_ready(env: dict[str, str], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "version"], env={**os.environ, **env}, capture_output=True,
                         check=False).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"dockerd did not start; last lines of {log}:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def docker_engine(tmp: Path) -> Iterator[Engine]:
    """dockerd for the session (own data root, exec root, socket; the local registry as insecure)."""
    dockerd = shutil.which("dockerd")
    if dockerd is None or shutil.which("docker") is None:
        missing("the docker tests need dockerd and the docker CLI (apt-get install docker.io)", "CI_REQUIRE_DOCKER")
    registry = images_registry()
    sock, log = tmp / "docker.sock", tmp / "dockerd.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(dockerd), "--data-root", str(tmp / "data"), "--exec-root", str(tmp / "exec"), "-H",
             f"unix://{sock}", "--pidfile", str(tmp / "dockerd.pid"), "--insecure-registry", registry,
             "--iptables=false", "--bridge=none", "--containerd-namespace", "wishstar-tests"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    env = {"DOCKER_HOST": f"unix://{sock}"}
    try:
        _dockerd_ready(env, process, log)
        yield Engine("docker", env, registry)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for netns in (tmp / "exec" / "netns").glob("*"):  # dockerd leaves its network namespace bind-mounted
            subprocess.run(["umount", str(netns)], capture_output=True, check=False)


@pytest.fixture(scope="session")
def podman() -> Engine:
    return podman_engine()


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from docker_engine(tmp_path_factory.mktemp("dockerd"))
