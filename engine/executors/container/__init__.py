"""The container executor (``--executor podman|docker|container``): each step in its image, on this machine.

``executor`` runs the steps; ``argv`` decides each step's command line (mounts, user, what reaches argv);
``runtime`` finds and calls the podman or docker CLI. docs/executors.md describes it for users.
It must not import the other executors' internals beyond the local executor's result reading.
"""

from __future__ import annotations

from collections.abc import Mapping

from wishstar.engine.compiler.types import Plan, TaskPlan
from wishstar.engine.executors.container.executor import ContainerExecutor
from wishstar.engine.executors.container.runtime import (
    AUTO,
    KINDS,
    ContainerError,
    Runtime,
    find_runtime,
    probe,
)

NAMES = (*KINDS, AUTO)
"""The ``--executor`` values this package answers."""

__all__ = ["NAMES", "ContainerError", "ContainerExecutor", "Runtime", "find_runtime", "make_container_executor",
           "probe"]


def make_container_executor(plan: Plan, choice: str, host_env: Mapping[str, str], *, default_image: str,
                            network: str | None, insecure: tuple[str, ...]) -> ContainerExecutor:
    """The executor for ``--executor choice``, with each task's container user from its ``kubernetes``
    security context (``runAsUser``/``runAsGroup``, the container's over the Pod's), as on Kubernetes."""
    runtime = find_runtime(choice, host_env, insecure)
    users = {t.name: user for t in plan.all_tasks() if (user := task_user(t)) is not None}
    return ContainerExecutor(runtime, default_image=default_image, network=network, users=users)


def task_user(task: TaskPlan) -> str | None:
    """``uid[:gid]`` for ``--user``, or None (the image's own user)."""
    merged = {**task.kubernetes.security_context, **task.kubernetes.container_security_context}
    uid, gid = merged.get("runAsUser"), merged.get("runAsGroup")
    if uid is None:  # a group alone cannot be given without a user: the image's user stays
        return None
    return f"{uid}" if gid is None else f"{uid}:{gid}"
