"""Step log files: where they live, how secrets are masked and size is capped as they are written, and how
they are read back (tail, follow) without loading a whole file.

Why: executors stream a step's output in chunks (``engine.executors.base.LogWriter``); a secret value may be
split across two chunks, and a runaway step may print gigabytes. The writer masks across chunk boundaries by
holding back at most ``len(longest secret) - 1`` bytes, and stops at a byte cap with one marker line. Readers
seek from the end in blocks. Must not keep a whole log in memory, must never write an unmasked secret byte to
disk or to the in-memory tail, and must not touch the database (the runner records paths and sizes).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

MASK = b"***"
DEFAULT_LIMIT = 50 * 1024 * 1024
TAIL_LINES = 20
_MAX_LINE = 64 * 1024
_BLOCK = 64 * 1024
_RUN_ID = re.compile(r"[0-9a-zA-Z_-]{1,64}")
RESUME_SUFFIX = ".resume"
"""``<step>.log.resume``: a step log's resume point (``StepLogWriter.mark``); not a log (``*.log`` skips it)."""


class Masker:
    """Replaces every occurrence of each secret with ``***`` in a stream fed in arbitrary chunks.

    At any position the longest secret that starts there wins, and scanning resumes after it; this gives the
    same output whatever the chunking, because bytes are only released once no secret starting among them
    could still be completed by later input.

    A multi-line secret (a PEM key, a kubeconfig) is also masked line by line, since a step may print it
    prefixed or a line at a time: each of its lines of ``MIN_LINE`` bytes or more is a secret of its own
    (shorter ones, such as ``}``, would mask unrelated output).
    """

    MIN_LINE = 8

    def __init__(self, secrets: Iterable[str | bytes]) -> None:
        values = {s.encode() if isinstance(s, str) else s for s in secrets}
        values |= {line for v in values if b"\n" in v for line in (raw.strip(b"\r") for raw in v.split(b"\n"))
                   if len(line) >= self.MIN_LINE}
        values.discard(b"")
        ordered = sorted(values, key=lambda v: (-len(v), v))
        self._pattern = re.compile(b"|".join(re.escape(v) for v in ordered)) if ordered else None
        self._hold = max((len(v) for v in ordered), default=1) - 1
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        """Masked bytes that are safe to release now (possibly fewer than were fed)."""
        if self._pattern is None:
            return data
        return self._scan(self._pending + data, final=False)

    def flush(self) -> bytes:
        """Everything still held back, masked; the stream has ended."""
        if self._pattern is None:
            return b""
        return self._scan(self._pending, final=True)

    def _scan(self, raw: bytes, *, final: bool) -> bytes:
        assert self._pattern is not None
        cut = len(raw) if final else max(0, len(raw) - self._hold)
        out: list[bytes] = []
        pos = 0
        for match in self._pattern.finditer(raw):
            if match.start() >= cut:
                break
            out.append(raw[pos:match.start()])
            out.append(MASK)
            pos = match.end()
        if pos < cut:
            out.append(raw[pos:cut])
            pos = cut
        self._pending = raw[pos:]
        return b"".join(out)


class StepLogWriter:
    """A ``LogWriter`` for one step: masks, writes each chunk to the file at once, caps the size.

    Past ``limit`` bytes it writes one line ``[wishstar: log truncated at N bytes]`` and drops the rest,
    counting the dropped bytes. ``on_output`` (if given) receives the masked bytes that reached the file.

    Resume points (the Kubernetes executor, ``engine.executors.kubernetes.logs``): ``mark(point)`` records, in
    ``<step>.log.resume`` next to the log, that what was written so far ends at ``point`` (the source's
    position, opaque here); a later writer of the same file (an engine that re-attached to the same Pod) gets
    it from ``resume_point()`` and then appends instead of starting the file again. The masker may still hold
    back up to the longest secret's length minus one byte when ``mark`` is called: ``close`` writes them, but
    a process killed before closing loses them.
    """

    def __init__(self, path: Path, secrets: Iterable[str | bytes] = (), *, limit: int = DEFAULT_LIMIT,
                 on_output: Callable[[bytes], None] | None = None) -> None:
        self.path = path
        self.limit = limit
        self.written = 0
        self.dropped = 0
        self.truncated = False
        self._masker = Masker(secrets)
        self._on_output = on_output
        self._file: IO[bytes] | None = None
        self._closed = False
        self._last = b"\n"
        self._append = False
        self._mark_fd: int | None = None

    @property
    def resume_path(self) -> Path:
        return self.path.with_name(self.path.name + RESUME_SUFFIX)

    def resume_point(self) -> str | None:
        """The point an earlier writer of this file marked, or None (the file then starts again on the first
        write). Call before writing: with a point, the writer appends and counts the stored bytes in its cap."""
        try:
            point = self.resume_path.read_text().partition("\n")[0].strip()
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if not point:
            return None
        self._append, self.written, self.truncated = True, min(size, self.limit), size > self.limit
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                self._last = f.read(1)
        return point

    def mark(self, point: str) -> None:
        """What was written so far ends at ``point`` (one small overwrite of the ``.resume`` file)."""
        if self._mark_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._mark_fd = os.open(self.resume_path, os.O_WRONLY | os.O_CREAT, 0o644)
        data = point.encode() + b"\n"
        os.pwrite(self._mark_fd, data, 0)
        os.ftruncate(self._mark_fd, len(data))

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError(f"write to closed log {self.path}")
        self._emit(self._masker.feed(data))

    def close(self) -> None:
        """Flush what the masker held back and close the file. Idempotent. A step that printed nothing
        leaves no file (creating one per silent step costs as much as spawning it)."""
        if self._closed:
            return
        self._emit(self._masker.flush())
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._mark_fd is not None:
            os.close(self._mark_fd)
            self._mark_fd = None

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self.truncated:
            self.dropped += len(data)
            return
        room = self.limit - self.written
        kept = data[:room]
        if kept:
            self._put(kept)
            self.written += len(kept)
        if len(data) > room:
            self.dropped += len(data) - len(kept)
            self.truncated = True
            marker = b"" if self._last == b"\n" else b"\n"
            self._put(marker + f"[wishstar: log truncated at {self.limit} bytes]\n".encode())

    def _put(self, data: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab" if self._append else "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._file.write(data)
        self._last = data[-1:]
        if self._on_output is not None:
            self._on_output(data)


class LineTail:
    """The last ``size`` lines of a byte stream, decoded for display; a partial line is capped in length."""

    def __init__(self, size: int = TAIL_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=size)
        self._partial = b""

    def feed(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        for line in complete[-(self._lines.maxlen or 1):]:
            self._lines.append(line[:_MAX_LINE].decode(errors="replace"))
        self._partial = self._partial[-_MAX_LINE:]

    def lines(self) -> list[str]:
        current = [self._partial.decode(errors="replace")] if self._partial else []
        return [*self._lines, *current][-(self._lines.maxlen or 1):]


@dataclass(frozen=True)
class StepLog:
    """What the runner records about a step's log once the step is over."""

    path: str
    size: int
    truncated: bool
    dropped: int


class TaskLogSink:
    """A ``LogSink`` for one task attempt: one file per step, and a shared in-memory tail for live views."""

    def __init__(self, logs: LogStore, run_id: str, task: str, attempt: int,
                 secrets: Iterable[str | bytes] = (), *, limit: int = DEFAULT_LIMIT,
                 tail_lines: int = TAIL_LINES) -> None:
        self._logs = logs
        self._where = (run_id, task, attempt)
        self._secrets = tuple(secrets)
        self._limit = limit
        self._tail = LineTail(tail_lines)
        self._writers: dict[str, StepLogWriter] = {}

    def open_step(self, step: str) -> StepLogWriter:
        run_id, task, attempt = self._where
        writer = StepLogWriter(self._logs.step_path(run_id, task, attempt, step), self._secrets,
                               limit=self._limit, on_output=self._tail.feed)
        self._writers[step] = writer
        return writer

    def tail(self) -> list[str]:
        """The last lines written by any step of this attempt (masked)."""
        return self._tail.lines()

    def step_logs(self) -> dict[str, StepLog]:
        return {name: StepLog(str(w.path), w.written, w.truncated, w.dropped)
                for name, w in self._writers.items()}

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def _segment(name: str) -> str:
    """A task or step name as one safe path segment (no separators, no dot-dot)."""
    safe = quote(name, safe="[],=+@-_")
    return safe if safe not in ("", ".", "..") else f"%{safe}"


class LogStore:
    """The ``logs/<run_id>/<task>/<attempt>/<step>.log`` layout under the state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "logs"

    def run_dir(self, run_id: str) -> Path:
        if not _RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.root / run_id

    def step_path(self, run_id: str, task: str, attempt: int, step: str) -> Path:
        return self.run_dir(run_id) / _segment(task) / str(int(attempt)) / f"{_segment(step)}.log"

    def sink(self, run_id: str, task: str, attempt: int, secrets: Iterable[str | bytes] = (), *,
             limit: int = DEFAULT_LIMIT) -> TaskLogSink:
        return TaskLogSink(self, run_id, task, attempt, secrets, limit=limit)

    def delete_run(self, run_id: str) -> None:
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)


def tail(path: Path | str, lines: int = TAIL_LINES, *, max_bytes: int = 1024 * 1024) -> Iterator[str]:
    """The last ``lines`` lines of a file, reading blocks backwards from the end (at most ``max_bytes``)."""
    if lines <= 0:
        return
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        pos, blocks, newlines = end, deque[bytes](), 0
        while pos > 0 and newlines <= lines and end - pos < max_bytes:
            size = min(_BLOCK, pos)
            pos -= size
            f.seek(pos)
            block = f.read(size)
            blocks.appendleft(block)
            newlines += block.count(b"\n")
    data = b"".join(blocks)
    if data.endswith(b"\n"):
        data = data[:-1]
    parts = data.split(b"\n") if data else []
    if pos > 0 and len(parts) > lines:
        parts = parts[1:]  # the first piece may be the end of a longer line
    for part in parts[-lines:]:
        yield part.decode(errors="replace")


def follow(path: Path | str, stop: Callable[[], bool], *, offset: int = 0, poll_s: float = 0.2,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
    """Lines of a growing file from ``offset`` as they are appended, until ``stop()`` is true.

    Waits for the file to appear. When ``stop()`` becomes true it reads what is left (a final line without
    newline included) and returns. Lines longer than 64 KiB are yielded in pieces.
    """
    while not os.path.exists(path):
        if stop():
            return
        sleep(poll_s)
    with open(path, "rb") as f:
        f.seek(offset)
        partial = b""
        while True:
            stopping = stop()
            chunk = f.read(_BLOCK)
            if chunk:
                *complete, partial = (partial + chunk).split(b"\n")
                for line in complete:
                    yield line.decode(errors="replace")
                while len(partial) >= _MAX_LINE:
                    yield partial[:_MAX_LINE].decode(errors="replace")
                    partial = partial[_MAX_LINE:]
                continue
            if stopping:
                if partial:
                    yield partial.decode(errors="replace")
                return
            sleep(poll_s)
