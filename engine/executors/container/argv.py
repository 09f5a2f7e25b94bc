"""One step as the ``podman run`` / ``docker run`` command line that runs it, and how its variables travel.

Why it exists: everything a reviewer may want to check about a step's container (image, mounts, user,
working directory, what reaches argv and what does not) is decided here, from plain values, so it can be
read and tested without a runtime.

Layout inside every step container (docs/executors.md):

    /workspace/<name>    each workspace of the task (or its ``mountPath``), Tekton's paths
    /wishstar/checkout   the run's checkout (the project directory inside it is the default working dir)
    /wishstar/results    the attempt's results: ``$(results.NAME.path)`` is /wishstar/results/NAME
    /wishstar/scripts    step scripts, read-only, one file per script (never a command-line string)

How variables travel: ``ps`` shows argv to every user, so no value goes there. Values go into an env file
(mode 0600, in a private directory, removed after the step); a value an env file cannot hold (a newline, a
carriage return, a very long line) is passed as ``--env NAME`` with the value in the CLI's own environment,
which only this user and root can read. Names that would change how the CLI itself behaves (``PATH``,
``LD_*``, ``DOCKER_*``...) are never put there.

It must not run anything, read the environment, or put a script or a variable's value into argv.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from wishstar.engine.compiler.entrypoint import RESULTS_DIR, SCRIPTS_DIR
from wishstar.engine.compiler.pods import dns_label, label_value
from wishstar.engine.executors.container.runtime import CLIENT_ENV, CLIENT_PREFIXES, Kind

CHECKOUT_DIR = "/wishstar/checkout"
LABEL_RUN = "dev.wishstar.run-id"
LABEL_TASK = "dev.wishstar.task"
ENV_FILE_LINE_MAX = 32 * 1024
"""Longest variable put in an env file: the CLIs read it line by line with a 64 KiB line buffer."""
_UNSAFE_FOR_CLIENT = ("LD_", "GO", "SSL_", "GIT_", "PYTHON", "IFS", "SHELL", "ENV", "BASH_")


class StepEnvError(ValueError):
    """A variable that can reach the container neither through an env file nor safely through the CLI."""


@dataclass(frozen=True)
class Mount:
    host: str
    path: str
    read_only: bool = False


@dataclass(frozen=True)
class StepContainer:
    """Everything ``run`` needs for one step's container."""

    name: str
    image: str
    entrypoint: str | None
    args: tuple[str, ...]
    workdir: str | None
    mounts: tuple[Mount, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    network: str | None = None
    env_file: str | None = None
    client_env_names: tuple[str, ...] = ()
    """Variables passed as ``--env NAME`` (their values in the CLI's environment, never in argv)."""
    stop_timeout_s: int = 2
    """SIGTERM to SIGKILL when the container is stopped or force-removed (podman's default is 10 s, and a
    shell as PID 1 ignores SIGTERM)."""


def container_name(run_id: str, task: str, attempt: int, index: int) -> str:
    """The name Wishstar gives a step's container: unique per run, task, attempt and step, and findable
    (``podman rm -f NAME``) without asking the runtime for an id."""
    return f"wishstar-{dns_label(run_id, 24)}-{dns_label(task, 40)}-a{attempt}-s{index}"


def labels(run_id: str, task: str, attempt: int) -> dict[str, str]:
    return {LABEL_RUN: run_id, LABEL_TASK: label_value(task), "dev.wishstar.attempt": str(attempt)}


def command_of(script_path: str | None, shebang: bool, command: tuple[str, ...] | None,
               args: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """(entrypoint, arguments) of a step: a script file (``sh -e FILE`` unless it starts with a shebang, as
    Tekton does; its args arrive as ``"$@"``), a command (its first word replaces the image's entrypoint),
    or neither: the image's own entrypoint with the step's args."""
    if script_path is not None:
        return (script_path, args) if shebang else ("/bin/sh", ("-e", script_path, *args))
    if command:
        return command[0], (*command[1:], *args)
    return None, args


def in_container(path: str, checkout_host: str | None) -> str | None:
    """A working directory the runner resolved, as the container sees it: a path inside the checkout maps
    under ``CHECKOUT_DIR``; a container path (a workspace) stays; any other host path has no meaning inside
    (None: the image's own working directory)."""
    if checkout_host is not None:
        rel = posixpath.relpath(path, checkout_host)
        if rel == "." or not rel.startswith(".."):
            return posixpath.normpath(posixpath.join(CHECKOUT_DIR, rel))
    if path.startswith(("/workspace", "/wishstar/")):
        return path
    return None


def split_env(env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """(env-file lines, variables for the CLI's environment) for a step's variables (module docstring)."""
    lines: list[str] = []
    through_client: dict[str, str] = {}
    for name, value in env.items():
        if "\n" not in value and "\r" not in value and len(name) + len(value) < ENV_FILE_LINE_MAX:
            lines.append(f"{name}={value}")
        elif name in CLIENT_ENV or name.startswith(CLIENT_PREFIXES) or name.startswith(_UNSAFE_FOR_CLIENT):
            raise StepEnvError(f"env {name}: its value holds a line break or is over {ENV_FILE_LINE_MAX} bytes, "
                               f"which an env file cannot carry, and {name} would change how the container CLI "
                               "itself runs (hint: rename the variable, or pass the value in a workspace file)")
        else:
            through_client[name] = value
    return lines, through_client


def run_argv(kind: Kind, c: StepContainer) -> list[str]:
    """The CLI's arguments for one step (after the binary): attached, removed when it ends, no pull (the
    executor pulled already, naming the step if it could not), no SELinux relabelling of the mounts, a short
    stop timeout."""
    argv = ["run", "--rm", "--name", c.name, "--pull", "never", "--security-opt", "label=disable",
            "--stop-timeout", str(c.stop_timeout_s)]
    for key, value in c.labels.items():
        argv += ["--label", f"{key}={value}"]
    if c.network:
        argv += ["--network", c.network]
    if c.user:
        argv += ["--user", c.user]
    if c.workdir:
        argv += ["--workdir", c.workdir]
    for m in c.mounts:
        argv += ["--volume", f"{m.host}:{m.path}:{'ro' if m.read_only else 'rw'}"]
    if c.env_file is not None:
        argv += ["--env-file", c.env_file]
    for name in c.client_env_names:
        argv += ["--env", name]
    if c.entrypoint is not None:
        # podman reads a JSON list as the whole entrypoint: one element can never be split or misread
        argv += ["--entrypoint", json.dumps([c.entrypoint]) if kind == "podman" else c.entrypoint]
    return [*argv, c.image, *c.args]


def scripts_mount(host_dir: str) -> Mount:
    return Mount(host_dir, SCRIPTS_DIR, read_only=True)


def results_mount(host_dir: str) -> Mount:
    return Mount(host_dir, RESULTS_DIR)
