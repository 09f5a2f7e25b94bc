"""Streaming one step container's log into the task's log sink while it runs, and resuming after a drop or
after a re-attach.

Why: logs must reach Wishstar's store as they are produced (they outlive the Pod there), in bounded memory,
even when a connection to the API server drops mid-step or the engine following them stops and another engine
re-attaches to the Pod. Each container gets one ``follow`` stream, opened when the container starts, with
``timestamps=true``: the kubelet puts an RFC 3339 timestamp with nanoseconds before every line. What has been
passed to the sink is a *resume point*: the timestamp of the last line begun and how many bytes of that line
(after the timestamp) were passed on, ``"2026-01-01T10:00:00.200000001Z 12"``. A stream opened again (after a
drop, or by a re-attaching engine that read the point its predecessor marked in the log writer) asks for
``sinceTime`` (whole seconds, as the API takes it), drops the lines before the point, drops the first bytes of
the line at the point, and passes on the rest, so no byte is written twice or skipped. Timestamps are compared
to the nanosecond (two lines in one microsecond are two lines). The timestamp prefix is stripped before the sink
sees a byte.

The blocking read runs on a thread and hands chunks over through a small bounded queue: a slow sink slows
the reader instead of growing memory. It must not buffer more than one line prefix (the timestamp) of a line,
nor decide the task's outcome. Where a resume point is stored is the writer's business (``Resumable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from wishstar.engine.executors.base import LogWriter
from wishstar.engine.executors.kubernetes.client import KubeClient, Stream, path_for

CHUNK = 64 * 1024
QUEUE_CHUNKS = 8
_MAX_PREFIX = 64
_END = object()
_WHOLE = -1
"""A resume point without a byte count: the whole line at its timestamp was passed on."""
_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


@runtime_checkable
class Resumable(Protocol):
    """A log writer that keeps a resume point with what it stored (``engine.store.logs.StepLogWriter``)."""

    def resume_point(self) -> str | None:
        """The point an earlier writer of the same log marked; the writer then appends after what it stored."""

    def mark(self, point: str) -> None:
        """Everything written so far ends at ``point``."""


class TimestampedLines:
    """Strips the timestamp the API server puts before each log line and passes the rest to ``write``; with
    ``after`` (a resume point, or a bare timestamp meaning that whole line), drops what was already passed on.
    ``point`` is the resume point after what has been passed on so far; ``last`` its timestamp."""

    def __init__(self, write: Callable[[bytes], None], after: str | None = None) -> None:
        self._write = write
        self.point: str | None = None
        self.last: str | None = None
        self._resume: tuple[int, int] | None = None
        self._prefix = b""
        self._at_start = True
        self._drop = 0  # bytes of the current line still to drop (_WHOLE: all of it)
        self._seen = 0  # bytes of the current line seen so far
        self._tracked = False  # whether the current line moves the point
        if after:
            self._resume_at(after)

    def _resume_at(self, point: str) -> None:
        stamp, _, count = point.partition(" ")
        when = _nanos(stamp)
        if when is not None:
            self.point, self.last = point, stamp
            self._resume = (when, int(count) if count.isdigit() else _WHOLE)

    def reopen(self) -> None:
        """A new stream starts (after a drop): it repeats lines up to the point, which are dropped again."""
        self._prefix, self._at_start, self._seen, self._drop, self._tracked = b"", True, 0, 0, False
        if self.point is not None:
            self._resume_at(self.point)

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
                        self._prefix, self._at_start, self._drop, self._tracked = b"", False, 0, False
                    break
                self._begin_line(self._prefix + data[pos:space], out)
                self._prefix, pos, self._at_start = b"", space + 1, False
                continue
            newline = data.find(b"\n", pos)
            end = len(data) if newline < 0 else newline + 1
            self._pass(data[pos:end], out)
            pos = end
            if newline >= 0:
                self._at_start = True
        if out:
            self._write(b"".join(out))

    def _pass(self, piece: bytes, out: list[bytes]) -> None:
        cut = max(0, self._drop - self._seen)  # bytes of this piece already stored
        if self._drop != _WHOLE and cut < len(piece):
            out.append(piece[cut:])
        self._seen += len(piece)
        if self._tracked:
            self.point = f"{self.last} {max(self._seen, self._drop)}"

    def _begin_line(self, stamp: bytes, out: list[bytes]) -> None:
        text = stamp.decode(errors="replace")
        when = _nanos(text)
        self._seen, self._drop, self._tracked = 0, 0, False
        if when is None:
            out.append(stamp + b" ")
            return
        if self._resume is not None:
            at, count = self._resume
            if when < at or (when == at and count == _WHOLE):
                self._drop = _WHOLE
                return
            if when == at:
                self._drop = count  # the line the point is in: its first ``count`` bytes are stored
            else:
                self._resume = None
        self.last, self._tracked = text, True
        self.point = f"{text} {self._drop}"

    def close(self) -> None:
        """The stream is over: text held back as a possible timestamp is passed on, unless it is the start of
        one (the stream was cut inside a timestamp; the next stream sends that line whole)."""
        if self._prefix and self._drop != _WHOLE and self._prefix.strip(b"0123456789-:.TZ+"):
            self._write(self._prefix)
        self._prefix = b""


def _nanos(text: str) -> int | None:
    """An RFC 3339 timestamp (up to nanoseconds) as nanoseconds since the epoch; None if it is not one."""
    match = _STAMP.fullmatch(text)
    if match is None:
        return None
    try:
        zone = "+00:00" if match[3] == "Z" else match[3]
        seconds = int(datetime.fromisoformat(match[1] + zone).timestamp())
    except ValueError:
        return None
    return seconds * 1_000_000_000 + int((match[2] or "").ljust(9, "0"))


def since_time(stamp: str) -> str:
    """The ``sinceTime`` for resuming at ``stamp``: whole seconds (rounded down), which the API accepts."""
    when = _nanos(stamp)
    if when is None:
        return stamp
    return datetime.fromtimestamp(when // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerLog:
    """Follows one container's log into ``writer``; ``run`` returns when the stream ended and the caller's
    ``finished()`` says the container is done (or ``stop()`` was called)."""

    def __init__(self, client: KubeClient, namespace: str, pod: str, container: str, writer: LogWriter,
                 finished: Callable[[], bool], *, after: str | None = None, retry_s: float = 1.0,
                 max_failures: int = 5) -> None:
        self.client, self.namespace, self.pod, self.container = client, namespace, pod, container
        self.lines = TimestampedLines(writer.write, after)
        self._marks = writer if isinstance(writer, Resumable) else None
        self._marked = after
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
        self.lines.reopen()
        if self.lines.last:
            query.append(("sinceTime", since_time(self.lines.last)))
        loop = asyncio.get_running_loop()
        # At most QUEUE_CHUNKS chunks in flight: the reader takes a slot per chunk, the loop gives it back.
        queue: asyncio.Queue[object] = asyncio.Queue()
        slots = threading.BoundedSemaphore(QUEUE_CHUNKS)
        thread = threading.Thread(target=self._read, args=(query, queue, slots, loop), daemon=True,
                                  name=f"wishstar-log-{self.pod}-{self.container}")
        thread.start()
        while True:
            item = await queue.get()
            slots.release()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytes)
            self.lines.feed(item)
            if self._marks is not None and self.lines.point != self._marked and self.lines.point is not None:
                self._marks.mark(self.lines.point)  # after the write: the point never runs ahead of the file
                self._marked = self.lines.point

    def _read(self, query: list[tuple[str, str]], queue: asyncio.Queue[object], slots: threading.BoundedSemaphore,
              loop: asyncio.AbstractEventLoop) -> None:
        def put(item: object) -> bool:
            """Hand over one item, waiting while QUEUE_CHUNKS are in flight; False once nobody reads any more
            (stopped, or the loop closed). Only a callback crosses threads, never a coroutine, so a loop that
            closes meanwhile leaves nothing un-awaited."""
            while not slots.acquire(timeout=1.0):
                if self._stopped or loop.is_closed():
                    return False
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed just now
                return False
            return True

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
