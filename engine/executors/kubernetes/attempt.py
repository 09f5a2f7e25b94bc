"""One task attempt on Kubernetes: create (or find) its Pod, follow it to the end, and stop it on cancel.

Why a module of its own: this is the part with the most states (not yet seen by the watch, pending with a
reason, running with log streams, finished, deleted by someone else, timed out by the engine's clock,
cancelled) and it must never create a Pod twice for one attempt: it first looks for the Pod by its name
(names are per run, task and attempt), and only creates it when it is not there, so a restarted engine
re-attaches, and then continues each step's stored log after the point the previous engine marked
(``logs.Resumable``) instead of writing it again. It waits on the namespace watch
(``watching.NamespaceWatch``), never polls, and reads outcomes with the pure functions of ``status``. It must
not decide retries (the scheduler does) or raise for a failed task (a failure is a returned outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wishstar.engine.executors.base import LogSink, LogWriter, ResolvedTask, TaskOutcome
from wishstar.engine.executors.kubernetes import status as st
from wishstar.engine.executors.kubernetes.client import Json, KubeClient, path_for
from wishstar.engine.executors.kubernetes.errors import QuotaExceeded
from wishstar.engine.executors.kubernetes.logs import ContainerLog, Resumable
from wishstar.engine.executors.kubernetes.objects import TaskObjects
from wishstar.engine.executors.kubernetes.watching import NamespaceWatch, is_gone


@dataclass(frozen=True)
class AttemptOptions:
    image_pull_grace_s: float = 60.0
    """How long a container may wait on ErrImagePull/ImagePullBackOff before the attempt fails."""
    delete_grace_s: int = 5
    """gracePeriodSeconds when deleting a Pod on cancellation or timeout."""
    gone_timeout_s: float = 60.0
    """How long to wait for a deleted Pod to disappear before giving up waiting (it is still deleted)."""
    deadline_slack_s: float = 5.0
    """The engine's own clock fires this long after the task's timeout (activeDeadlineSeconds goes first)."""
    stream_logs: bool = True
    log_drain_s: float = 10.0
    """After the Pod ends, how long its log streams may take to deliver the rest."""
    quota_retry_s: float = 5.0
    clock: Callable[[], float] = field(default=time.monotonic)


class Attempt:
    """Runs ``objects`` for ``task``; ``on_waiting`` hears each new "why is it waiting" (None: not waiting)."""

    def __init__(self, client: KubeClient, watch: NamespaceWatch, namespace: str, task: ResolvedTask,
                 objects: TaskObjects, sink: LogSink, options: AttemptOptions,
                 on_waiting: Callable[[str | None], None]) -> None:
        self.client, self.watch, self.namespace = client, watch, namespace
        self.task, self.objects, self.sink, self.options = task, objects, sink, options
        self.on_waiting = on_waiting
        self.name = objects.name
        self.steps = [st.StepRef(s.name, c["name"]) for s, c in zip(task.steps, objects.pod["spec"]["containers"],
                                                                    strict=True)]
        self.uid: str | None = None
        self.attached = False
        self._pod: Json = objects.pod
        self._writers: dict[str, LogWriter] = {}
        self._resume: dict[str, str | None] = {}
        """Per step, where the log stored by an engine that followed this Pod before ends (a re-attach)."""
        self._logs: dict[str, tuple[ContainerLog, asyncio.Task[None]]] = {}
        self._waiting: str | None = None
        self._started = options.clock()

    async def run(self) -> TaskOutcome:
        with self.watch.subscribe(self.name) as changed:
            try:
                if not await self._create_or_attach():
                    return TaskOutcome("failed", None, self._timeout_reason())
                return await self._follow(changed)
            except asyncio.CancelledError:
                await self._delete_everything(changed)
                raise
            finally:
                await self._stop_logs()
                self._report_waiting(None)
                for writer in self._writers.values():
                    writer.close()

    # -- creation ------------------------------------------------------------------------------------

    async def _create_or_attach(self) -> bool:
        # Create first, read only on a conflict: a new attempt costs two requests (ConfigMap, Pod), not three.
        # The attempt's ConfigMap already existing means an engine got this far before: look for its Pod.
        path = path_for(self.namespace, "pods", self.name)
        if self.objects.secret is not None:
            await self.client.create(path_for(self.namespace, "secrets"), self.objects.secret)
        made = await self.client.create(path_for(self.namespace, "configmaps"), self.objects.config_map)
        if made is None:
            existing = await self.client.get(path)
            if existing is not None:
                self._adopt(existing, attached=True)
                return True
        while True:
            try:
                created = await self.client.create(path_for(self.namespace, "pods"), self.objects.pod)
            except QuotaExceeded as exc:
                self._report_waiting(f"quota: {exc}")
                if self._deadline_passed():
                    return False
                await asyncio.sleep(self.options.quota_retry_s)
                continue
            if created is None:  # created meanwhile by another engine process: attach to it
                created = await self.client.get(path)
                if created is None:
                    continue
                self._adopt(created, attached=True)
            else:
                self._adopt(created, attached=False)
            return True

    def _adopt(self, pod: Json, *, attached: bool) -> None:
        self._pod, self.uid, self.attached = pod, pod["metadata"].get("uid"), attached

    # -- following -----------------------------------------------------------------------------------

    async def _follow(self, changed: asyncio.Event) -> TaskOutcome:
        image_since: float | None = None
        while True:
            changed.clear()
            if self.watch.fatal is not None:
                raise self.watch.fatal
            pod = self._current()
            if pod is None:
                return TaskOutcome("failed", None, f"the Pod {self.name} was deleted before it finished")
            self._start_logs(pod)
            if st.is_finished(pod):
                self._report_waiting(None)
                await self._drain_logs()
                return st.task_outcome(pod, self.steps, self.task.results, task=self.task.name,
                                       timeout_s=self.task.timeout_s)
            self._report_waiting(st.waiting_reason(pod, self.watch.events_for(self.name, self.uid)))
            problem = st.image_problem(pod)
            now = self.options.clock()
            image_since = None if problem is None else (now if image_since is None else image_since)
            if problem is not None and image_since is not None and (
                    problem[2] or now - image_since >= self.options.image_pull_grace_s):
                await self._delete_pod(changed)
                return TaskOutcome("failed", None, f"step container {problem[0]} cannot start: {problem[1]}")
            if self._deadline_passed():
                await self._delete_pod(changed)
                return TaskOutcome("failed", None, self._timeout_reason())
            await self._wait(changed, self._next_wake(image_since))

    def _current(self) -> Json | None:
        """The newest state of our Pod: the watch's copy once it has one, the created object before that;
        None once it is gone (its last state is used when it had finished)."""
        pod = self.watch.pods.get(self.name)
        if pod is not None and pod["metadata"].get("uid") == self.uid:
            self._pod = pod
            return pod
        if is_gone(self.watch, self.name, self.uid):
            last = self.watch.gone[self.name]
            return last if st.is_finished(last) else (self._pod if st.is_finished(self._pod) else None)
        return self._pod

    def _next_wake(self, image_since: float | None) -> float | None:
        now = self.options.clock()
        wakes = []
        if image_since is not None:
            wakes.append(image_since + self.options.image_pull_grace_s - now)
        if self.task.timeout_s is not None:
            wakes.append(self._started + self.task.timeout_s + self.options.deadline_slack_s - now)
        return max(0.0, min(wakes)) if wakes else None

    async def _wait(self, changed: asyncio.Event, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()

    def _deadline_passed(self) -> bool:
        if self.task.timeout_s is None:
            return False
        return self.options.clock() >= self._started + self.task.timeout_s + self.options.deadline_slack_s

    def _timeout_reason(self) -> str:
        return f"task {self.task.name} timed out after {self.task.timeout_s:g}s"

    def _report_waiting(self, reason: str | None) -> None:
        if reason == self._waiting:
            return
        self._waiting = reason
        self.on_waiting(reason)
        if reason is not None and self.steps:
            self._writer(self.steps[0].name).write(f"wishstar: waiting: {reason}\n".encode())

    # -- logs ----------------------------------------------------------------------------------------

    def _writer(self, step: str) -> LogWriter:
        if step not in self._writers:
            writer = self._writers[step] = self.sink.open_step(step)
            if self.attached and isinstance(writer, Resumable):
                # a re-attach: continue the stored log after the point the previous engine marked
                self._resume[step] = writer.resume_point()
        return self._writers[step]

    def _start_logs(self, pod: Json) -> None:
        if not self.options.stream_logs:
            return
        started = st.started_containers(pod)
        for step in self.steps:
            if step.container in started and step.container not in self._logs:
                done = functools.partial(self._container_done, step.container)
                writer = self._writer(step.name)
                log = ContainerLog(self.client, self.namespace, self.name, step.container, writer, done,
                                   after=self._resume.get(step.name))
                self._logs[step.container] = (log, asyncio.create_task(log.run()))

    def _container_done(self, container: str) -> bool:
        pod = self._current()
        return pod is None or st.container_finished(pod, container)

    async def _drain_logs(self) -> None:
        tasks = [task for _, task in self._logs.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.options.log_drain_s)
        for step in self.steps:
            entry = self._logs.get(step.container)
            if entry is not None and entry[0].problem and entry[1].done():
                self._writer(step.name).write(f"wishstar: the log of {step.container} could not be read to "
                                              f"the end: {entry[0].problem}\n".encode())

    async def _stop_logs(self) -> None:
        for log, _ in self._logs.values():
            log.stop()
        tasks = [task for _, task in self._logs.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- stopping ------------------------------------------------------------------------------------

    async def _delete_pod(self, changed: asyncio.Event) -> None:
        """Delete the Pod with the grace period and wait (bounded) until the watch says it is gone."""
        await self.client.delete(path_for(self.namespace, "pods", self.name), grace_s=self.options.delete_grace_s)
        deadline = self.options.clock() + self.options.delete_grace_s + self.options.gone_timeout_s
        while not (self.uid is not None and is_gone(self.watch, self.name, self.uid)):
            left = deadline - self.options.clock()
            if left <= 0:
                return
            changed.clear()
            if await self.client.get(path_for(self.namespace, "pods", self.name)) is None:
                return
            await self._wait(changed, min(left, 5.0))

    async def _delete_everything(self, changed: asyncio.Event) -> None:
        with contextlib.suppress(Exception):
            await self._delete_pod(changed)  # by name: also a Pod whose creation was in flight
            for kind, obj in (("configmaps", self.objects.config_map), ("secrets", self.objects.secret)):
                if obj is not None:
                    await self.client.delete(path_for(self.namespace, kind, self.name))
