"""One informer per namespace: list, then watch from the list's resourceVersion, and tell waiting tasks.

Why: a task attempt must learn when its Pod starts, waits, or ends without a polling loop per Pod (200 Pods
polled every second is 200 requests a second against a shared API server). One watch of the namespace's Pods
carrying the ``wishstar.dev/run`` label (and one of its Pod Events, for "why is it pending?") feeds a cache
on the event loop; each attempt waits on an ``asyncio.Event`` for its own Pod's name.

How it survives trouble, as client-go's reflector does: the watch resumes from the last resourceVersion it
saw (bookmarks included) after a dropped connection or an API server restart, with a capped backoff; after
``410 Gone`` it lists again and reports what changed or vanished meanwhile. RBAC refusals are fatal and
handed to every waiter. Streams are read on a thread of their own (the official client is blocking); only
the event loop touches the cache. It must not poll, and must not keep objects of Pods it was not asked for
beyond the label's reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

from wishstar.engine.executors.kubernetes.client import Json, KubeClient, Query, Stream, path_for
from wishstar.engine.executors.kubernetes.errors import Gone, KubernetesError, PermissionDenied
from wishstar.engine.executors.kubernetes.objects import RUN_LABEL

WATCH_SECONDS = 240
"""Server-side length of one watch request (jittered); it then resumes from its resourceVersion."""
READ_TIMEOUT_S = 90.0
"""No byte for this long (bookmarks come about every minute) means the connection is dead."""
MAX_BACKOFF_S = 5.0
EVENTS_PER_POD = 8
TOMBSTONES = 4096

Handler = Callable[[str, Json], None]


class Informer:
    """List-then-watch of one resource in one namespace on a thread; ``handler(type, obj)`` is called on the
    event loop for ADDED, MODIFIED and DELETED (a relist reports differences the same way)."""

    def __init__(self, client: KubeClient, namespace: str, resource: str, query: Query, handler: Handler,
                 loop: asyncio.AbstractEventLoop, on_fatal: Callable[[Exception], None]) -> None:
        self.client, self.path, self.query = client, path_for(namespace, resource), tuple(query)
        self.handler, self.loop, self.on_fatal = handler, loop, on_fatal
        self.resource_version: str | None = None
        self.restarts = 0
        """Watches that ended in an error (dropped connection, API server gone) and were resumed."""
        self.watches = 0
        """Watch requests opened so far (a clean end, e.g. an API server shutting down, also opens another)."""
        self._known: dict[str, Json] = {}
        self._stop = threading.Event()
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """List once (a refusal surfaces here, in ``setup``), then watch on a thread."""
        await self.loop.run_in_executor(None, self._relist)
        self._thread = threading.Thread(target=self._run, name=f"wishstar-watch{self.path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.shutdown()

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                self._watch()
                backoff = 0.2
            except Gone:
                self.resource_version = None
            except PermissionDenied as exc:
                self._fatal(exc)
                return
            except Exception:  # dropped connection, API server restarting: resume from resourceVersion
                if self._stop.is_set():
                    return
                self.restarts += 1
                self._stop.wait(backoff * (0.5 + random.random()))
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    def _fatal(self, exc: Exception) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.on_fatal, exc)

    def _emit(self, kind: str, obj: Json) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under us: nobody is waiting any more
            self.loop.call_soon_threadsafe(self.handler, kind, obj)

    def _relist(self) -> None:
        listed = self.client.request_blocking("GET", self.path, query=self.query)
        seen: dict[str, Json] = {}
        for item in listed.get("items") or ():
            name = item["metadata"]["name"]
            seen[name] = item
            old = self._known.get(name)
            if old is None or old["metadata"].get("resourceVersion") != item["metadata"].get("resourceVersion"):
                self._emit("MODIFIED" if old else "ADDED", item)
        for name, old in self._known.items():
            if name not in seen:
                self._emit("DELETED", old)
        self._known = {n: _slim(o) for n, o in seen.items()}
        self.resource_version = str((listed.get("metadata") or {}).get("resourceVersion") or "") or None

    def _watch(self) -> None:
        query = [*self.query, ("watch", "1"), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(int(WATCH_SECONDS * (0.75 + random.random() / 2))))]
        if self.resource_version:
            query.append(("resourceVersion", self.resource_version))
        self._stream = self.client.open_stream(self.path, query, timeout=(10.0, READ_TIMEOUT_S))
        self.watches += 1
        try:
            for event in _json_lines(self._stream):
                if self._stop.is_set():
                    return
                self._apply(event)
        finally:
            stream, self._stream = self._stream, None
            with contextlib.suppress(Exception):
                stream.release_conn()

    def _apply(self, event: Json) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone(str(obj.get("message") or "too old resource version"), status=410)
            raise KubernetesError(f"watch error: {obj.get('message')}", status=int(obj.get("code") or 0))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = str(rv)
        if kind == "BOOKMARK" or kind not in ("ADDED", "MODIFIED", "DELETED"):
            return
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self._known.pop(name, None)
        else:
            self._known[name] = _slim(obj)
        self._emit(str(kind), obj)


def _slim(obj: Json) -> Json:
    """What a relist needs to compare: name and resourceVersion (the full objects live in the cache)."""
    meta = obj.get("metadata") or {}
    return {"metadata": {"name": meta.get("name"), "resourceVersion": meta.get("resourceVersion"),
                         "uid": meta.get("uid"), "namespace": meta.get("namespace")}, "kind": obj.get("kind")}


def _json_lines(stream: Stream, chunk: int = 64 * 1024) -> Iterator[Json]:
    buffer = b""
    for data in stream.stream(chunk):
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


class NamespaceWatch:
    """The loop-side cache of one namespace's Wishstar Pods and their Events, and the waiters on them."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.pods: dict[str, Json] = {}
        self.gone: OrderedDict[str, Json] = OrderedDict()
        self.events: dict[str, deque[Json]] = {}
        self.fatal: Exception | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._informers: list[Informer] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        pods = Informer(self.client, self.namespace, "pods", [("labelSelector", RUN_LABEL)], self._on_pod,
                        loop, self._on_fatal)
        events = Informer(self.client, self.namespace, "events", [("fieldSelector", "involvedObject.kind=Pod")],
                          self._on_event, loop, self._on_fatal)
        for informer in (pods, events):
            await informer.start()
            self._informers.append(informer)

    def stop(self) -> None:
        for informer in self._informers:
            informer.stop()
        self._informers.clear()

    @property
    def restarts(self) -> int:
        return sum(i.restarts for i in self._informers)

    @property
    def watches(self) -> int:
        return sum(i.watches for i in self._informers)

    @contextlib.contextmanager
    def subscribe(self, name: str) -> Iterator[asyncio.Event]:
        """An event set whenever the named Pod (or an Event about it) changes; subscribe before creating."""
        flag = asyncio.Event()
        self._waiters.setdefault(name, set()).add(flag)
        try:
            yield flag
        finally:
            waiters = self._waiters.get(name)
            if waiters is not None:
                waiters.discard(flag)
                if not waiters:
                    del self._waiters[name]
                    if name not in self.pods:
                        self.events.pop(name, None)

    def events_for(self, name: str, uid: str | None = None) -> list[Json]:
        return [e for e in self.events.get(name, ()) if uid is None or
                (e.get("involvedObject") or {}).get("uid") in (None, uid)]

    def _notify(self, name: str) -> None:
        for flag in self._waiters.get(name, ()):
            flag.set()

    def _on_pod(self, kind: str, pod: Json) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            self.pods.pop(name, None)
            self.gone[name] = pod
            while len(self.gone) > TOMBSTONES:
                self.gone.popitem(last=False)
            if name not in self._waiters:
                self.events.pop(name, None)
        else:
            self.pods[name] = pod
            self.gone.pop(name, None)
        self._notify(name)

    def _on_event(self, kind: str, event: Json) -> None:
        name = str((event.get("involvedObject") or {}).get("name") or "")
        if kind == "DELETED" or (name not in self.pods and name not in self._waiters):
            return
        queue = self.events.setdefault(name, deque(maxlen=EVENTS_PER_POD))
        queue.append(event)
        self._notify(name)

    def fail_waiters(self, exc: Exception) -> None:
        """End every attempt waiting on this watch with ``exc`` (a lost connection for good, or a detach)."""
        self._on_fatal(exc)

    def _on_fatal(self, exc: Exception) -> None:
        self.fatal = exc
        for name in list(self._waiters):
            self._notify(name)


def is_gone(watch: NamespaceWatch, name: str, uid: str | None) -> bool:
    tomb: Any = watch.gone.get(name)
    return tomb is not None and (uid is None or tomb["metadata"].get("uid") == uid)
