"""Streaming one step container's log into the task's log sink while it runs, and resuming after a drop.

Why: logs must reach Wishstar's store as they are produced (they outlive the Pod there), in bounded memory,
even when a connection to the API server drops mid-step. Each container gets one ``follow`` stream, opened
when the container starts, with ``timestamps=true``: after a drop the stream is opened again with
``sinceTime`` (whole seconds, as the API keeps it) and lines at or before the last timestamp already written
are dropped, so nothing is written twice. The timestamp prefix is stripped before the sink sees a byte.

The blocking read runs on a thread and hands chunks over through a small bounded queue: a slow sink slows
the reader instead of growing memory. It must not buffer more than one line prefix (the timestamp) of a line,
nor decide the task's outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from engine.executors.base import LogWriter
from engine.executors.kubernetes.client import KubeClient, Stream, path_for

CHUNK = 64 * 1024
QUEUE_CHUNKS = 8
_MAX_PREFIX = 64
_END = object()


class TimestampedLines:
    """Strips the RFC 3339 timestamp the API server puts before each log line; drops lines at or before
    ``after`` (an RFC 3339 string, compared by parsed value); remembers the last timestamp seen."""

    def __init__(self, write: Callable[[bytes], None], after: str | None = None) -> None:
        self._write = write
        self.after = _parse(after) if after else None
        self.last: str | None = after
        self._prefix = b""
        self._at_start = True
        self._skip = False

    def feed(self, data: bytes) -> None:
        out: list[bytes] = []
        pos = 0
        while pos < len(data):
            if self._at_start:
                space = data.find(b" ", pos)
                if space < 0:
                    self._prefix += data[pos:]
                    if len(self._prefix) > _MAX_PREFIX:  # not a timestamp after all: pass it on
                        out.append(self._prefix)
                        self._prefix, self._at_start = b"", False
                    break
                self._begin_line(self._prefix + data[pos:space], out)
                self._prefix, pos, self._at_start = b"", space + 1, False
                continue
            newline = data.find(b"\n", pos)
            end = len(data) if newline < 0 else newline + 1
            if not self._skip:
                out.append(data[pos:end])
            pos = end
            if newline >= 0:
                self._at_start = True
        if out:
            self._write(b"".join(out))

    def _begin_line(self, stamp: bytes, out: list[bytes]) -> None:
        text = stamp.decode(errors="replace")
        when = _parse(text)
        if when is None:
            out.append(stamp + b" ")
            self._skip = False
            return
        self._skip = self.after is not None and when <= self.after
        if not self._skip:
            self.last = text

    def close(self) -> None:
        if self._prefix and not self._skip:
            self._write(self._prefix)
        self._prefix = b""


def _parse(text: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds: extra digits are cut)."""
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        base = datetime.fromisoformat(head).replace(tzinfo=UTC)
        micro = int((frac + "000000")[:6]) if frac else 0
        return base.replace(microsecond=micro)
    except ValueError:
        return None


def since_time(stamp: str) -> str:
    """The ``sinceTime`` for resuming after ``stamp``: whole seconds, which the API accepts."""
    when = _parse(stamp)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else stamp


class ContainerLog:
    """Follows one container's log into ``writer``; ``run`` returns when the stream ended and the caller's
    ``finished()`` says the container is done (or ``stop()`` was called)."""

    def __init__(self, client: KubeClient, namespace: str, pod: str, container: str, writer: LogWriter,
                 finished: Callable[[], bool], *, retry_s: float = 1.0, max_failures: int = 5) -> None:
        self.client, self.namespace, self.pod, self.container = client, namespace, pod, container
        self.lines = TimestampedLines(writer.write)
        self.finished = finished
        self.retry_s, self.max_failures = retry_s, max_failures
        self.problem: str | None = None
        self._stopped = False
        self._stream: Stream | None = None

    def stop(self) -> None:
        self._stopped = True
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.shutdown()

    async def run(self) -> None:
        failures = 0
        try:
            while not self._stopped:
                try:
                    await self._follow_once()
                except Exception as exc:  # dropped, refused, or the node cannot serve logs
                    failures += 1
                    self.problem = str(exc)
                    if failures >= self.max_failures:
                        return
                if self._stopped or self.finished():
                    return
                await asyncio.sleep(self.retry_s)
        finally:
            self.stop()
            self.lines.close()

    async def _follow_once(self) -> None:
        query = [("container", self.container), ("follow", "true"), ("timestamps", "true")]
        if self.lines.last:
            query.append(("sinceTime", since_time(self.lines.last)))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_CHUNKS)
        thread = threading.Thread(target=self._read, args=(query, queue, loop), daemon=True,
                                  name=f"wishstar-log-{self.pod}-{self.container}")
        thread.start()
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytes)
            self.lines.feed(item)

    def _read(self, query: list[tuple[str, str]], queue: asyncio.Queue[object],
              loop: asyncio.AbstractEventLoop) -> None:
        def put(item: object) -> bool:
            """Hand over one item, waiting while the queue is full; False once nobody reads any more."""
            try:
                future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            except RuntimeError:
                return False
            while True:
                try:
                    future.result(timeout=1.0)
                    return True
                except concurrent.futures.TimeoutError:
                    if self._stopped:
                        future.cancel()
                        return False
                except Exception:
                    return False

        try:
            self._stream = self.client.open_stream(path_for(self.namespace, "pods", self.pod, "log"), query,
                                                   timeout=(10.0, None))
            for data in self._stream.stream(CHUNK):
                if self._stopped or not put(bytes(data)):
                    break
            put(_END)
        except Exception as exc:
            put(exc if not self._stopped else _END)
        finally:
            stream, self._stream = self._stream, None
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.release_conn()
