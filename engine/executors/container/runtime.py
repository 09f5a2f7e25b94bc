"""The container CLI (podman or docker) as the container executor talks to it: found, probed, called.

Why a module of its own: which binary runs, with which environment, and how a short call (pull, remove,
list) is made and bounded are the same for every step, and they are the part of the executor that differs
between podman and docker (``docker image inspect`` vs ``podman image exists``, ``--tls-verify``).

The CLI's environment is the engine's own, reduced to what the CLI reads (``PATH``, ``HOME``,
``XDG_RUNTIME_DIR``, ``CONTAINERS_*``, ``DOCKER_*``, ``REGISTRY_AUTH_FILE``, proxies, ``TMPDIR``): the user's
podman configuration (or ``DOCKER_HOST`` and docker contexts) is used as it is, so a podman or docker that works
for the user works for Wishstar. Nothing of a step's environment is ever added here (``argv`` decides how a
step's variables reach its container).

It must not: run anything through a shell, put a value that could be secret in an argument, or wait
unboundedly for the CLI (every call has a time limit).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from wishstar.engine.executors import procs
from wishstar.engine.spec.errors import WishstarError

Kind = Literal["podman", "docker"]
KINDS: tuple[Kind, ...] = ("podman", "docker")
AUTO = "container"
"""``--executor container``: podman if it is installed, else docker."""

CLIENT_ENV = ("PATH", "HOME", "USER", "LANG", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
              "REGISTRY_AUTH_FILE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
              "no_proxy")
CLIENT_PREFIXES = ("CONTAINERS_", "DOCKER_", "CONTAINER_HOST", "BUILDAH_", "STORAGE_")
"""What the CLI reads from its environment; kept from the engine's, everything else dropped."""

CALL_TIMEOUT_S = 60.0
PULL_TIMEOUT_S = 600.0
OUTPUT_CAP = 64 * 1024
"""Bytes of a short call's output kept (for error messages); the rest is dropped."""


class ContainerError(WishstarError):
    """podman or docker is missing, cannot be used, or refused a call (the message says which and why)."""


@dataclass(frozen=True)
class Runtime:
    """One container CLI: its kind, its binary and the environment it is started with."""

    kind: Kind
    binary: str
    env: Mapping[str, str] = field(default_factory=dict)
    insecure: tuple[str, ...] = ()
    """Registries (``host[:port]``) pulled from over plain http or without TLS verification (podman's
    ``--tls-verify=false``; docker decides in its daemon: ``--insecure-registry``, 127.0.0.0/8 by default)."""

    def pull_args(self, image: str) -> list[str]:
        args = ["pull", "--quiet"]
        if self.kind == "podman" and registry_of(image) in self.insecure:
            args.append("--tls-verify=false")
        return [*args, image]

    def exists_args(self, image: str) -> list[str]:
        return ["image", "exists", image] if self.kind == "podman" else ["image", "inspect", "--format", "x", image]

    def remove_args(self, name: str) -> list[str]:
        """Kill (SIGKILL) and remove a container; repeating it is harmless."""
        return ["rm", "--force", "--ignore", name] if self.kind == "podman" else ["rm", "--force", name]

    async def call(self, *args: str, timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, str]:
        """Run the CLI with ``args`` (argv, never a shell) and return (exit code, output, capped). A call that
        outlives ``timeout_s`` is killed and reads as exit code 124."""
        read_fd, write_fd = os.pipe()
        try:
            child = procs.spawn([self.binary, *args], self.env, "/", write_fd)
        except OSError as exc:
            os.close(read_fd)
            raise ContainerError(f"{self.kind}: cannot run {self.binary}: {exc.strerror or exc}") from None
        finally:
            os.close(write_fd)
        out = bytearray()

        def keep(data: bytes) -> None:
            if len(out) < OUTPUT_CAP:
                out.extend(data[: OUTPUT_CAP - len(out)])

        pump = procs.OutputPump(read_fd, keep)
        try:
            await procs.wait_by(child, asyncio.get_running_loop().time() + timeout_s)
            await procs.stop_group(child, 1.0)
            await pump.drain(1.0)
        except asyncio.CancelledError:
            procs.kill_now(child)
            raise
        finally:
            pump.close()
            child.close()
        code = child.returncode
        return (124 if code is None or code < 0 else code), out.decode(errors="replace")

    def call_now(self, *args: str, timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, str]:
        """``call`` without an event loop (the last resort of a cancelled attempt, and ``probe``)."""
        try:
            done = subprocess.run([self.binary, *args], env=dict(self.env), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return 124, f"{self.kind} {args[0]} did not answer within {timeout_s:g}s"
        except OSError as exc:
            return 127, str(exc.strerror or exc)
        return done.returncode, (done.stdout + done.stderr).decode(errors="replace")

    async def labelled(self, label: str) -> list[str]:
        """Names of the containers (running or not) carrying ``label`` (``key=value``)."""
        code, out = await self.call("ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}")
        return [line.strip() for line in out.splitlines() if line.strip()] if code == 0 else []


def registry_of(image: str) -> str:
    """The registry host of an image reference (``docker.io`` when it names none), as docker reads it."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def client_env(host_env: Mapping[str, str]) -> dict[str, str]:
    """The engine's environment reduced to what the CLI reads (module docstring)."""
    env = {k: v for k, v in host_env.items() if k in CLIENT_ENV or k.startswith(CLIENT_PREFIXES)}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def find_runtime(choice: str, host_env: Mapping[str, str], insecure: tuple[str, ...] = ()) -> Runtime:
    """The runtime ``--executor`` names (``podman``, ``docker``, or ``container``: whichever is installed,
    podman first); ``ContainerError`` with a hint when it is not installed."""
    env = client_env(host_env)
    wanted: tuple[Kind, ...] = KINDS if choice == AUTO else tuple(k for k in KINDS if k == choice)
    if not wanted:
        raise ContainerError(f'executor "{choice}": not a container runtime (use podman, docker or container)')
    for kind in wanted:
        binary = shutil.which(kind, path=env["PATH"])
        if binary is not None:
            return Runtime(kind, binary, env, insecure)
    if choice == AUTO:
        raise ContainerError('executor "container": neither podman nor docker is installed (hint: apt-get install '
                             "podman, or install Docker; or run with --executor local)")
    other = "docker" if choice == "podman" else "podman"
    raise ContainerError(f'executor "{choice}": {choice} is not installed or not on PATH (hint: install it, '
                         f"or use --executor {other} or --executor local)")


def probe(runtime: Runtime) -> None:
    """Check that the CLI answers (docker: that its daemon does) before a run is recorded."""
    code, out = runtime.call_now("version", "--format", "{{.Server.Version}}" if runtime.kind == "docker"
                                 else "{{.Version}}", timeout_s=30.0)
    if code == 0:
        return
    last = last_line(out) or f"exit code {code}"
    if runtime.kind == "docker":
        where = runtime.env.get("DOCKER_HOST") or "the default socket"
        raise ContainerError(f'executor "docker": cannot reach the Docker daemon at {where}: {last} (hint: start '
                             "dockerd, or set DOCKER_HOST to its socket)")
    raise ContainerError(f'executor "podman": `podman version` failed: {last} (hint: check the podman '
                         "configuration, CONTAINERS_CONF and CONTAINERS_STORAGE_CONF; docs/executors.md)")


def last_line(text: str) -> str:
    """The last non-empty line of a CLI's output (its error, as podman and docker print it)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
