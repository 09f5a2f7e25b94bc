"""Process-group plumbing for the local executor: spawn, await exit without threads, pump output, kill all.

Why a module of its own: the rules for stopping a step are subtle (a group outlives its leader, orphans may
linger as zombies when PID 1 does not reap, a second cancellation may arrive while we wait for the first
to take effect) and they deserve tests of their own, apart from what a step means.

Why not ``asyncio.create_subprocess_exec``: on Python 3.11 its default child watcher starts one thread per
process, and its ``Process.wait`` may wait for the pipes to close, which a background grandchild holding
stdout can delay forever. Here a child's exit is awaited through a pidfd registered with the event loop
(no thread, no polling) and the output pipe is read separately, so exit and end-of-output are independent.

It must not know about steps, tasks, logs sinks or results, and must never run anything through a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

CHUNK = 64 * 1024
"""Bytes read from a step's output pipe at a time: memory stays bounded whatever the step prints."""

GONE_TIMEOUT_S = 10.0
"""How long to wait for a SIGKILLed group to disappear before giving up (a process stuck in the kernel)."""

_POLL_FIRST_S = 0.001
_POLL_MAX_S = 0.05


class Child:
    """A spawned process that leads its own process group (its pid is the group id)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pgid = popen.pid
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: fall back to polling
            self._pidfd = None

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped: negative for death by signal, as in ``subprocess``."""
        return self.popen.poll()

    async def wait(self) -> int:
        """Wait for the leader to exit and reap it; cancellable."""
        code = self.popen.poll()
        if code is not None:
            return code
        if self._pidfd is None:
            return await self._wait_polling()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        def on_readable() -> None:
            status = self.popen.poll()
            if status is not None and not done.done():
                done.set_result(status)

        loop.add_reader(self._pidfd, on_readable)
        try:
            return await done
        finally:
            loop.remove_reader(self._pidfd)

    async def _wait_polling(self) -> int:
        delay = _POLL_FIRST_S
        while (code := self.popen.poll()) is None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)
        return code

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def spawn(argv: Sequence[str], env: Mapping[str, str], cwd: str, stdout: int) -> Child:
    """Start ``argv`` (never a shell string) as a new session with exactly ``env``; stdout and stderr go to
    the one file descriptor ``stdout``, stdin is /dev/null. ``OSError`` if it cannot be started."""
    popen = subprocess.Popen(
        list(argv), env=dict(env), cwd=cwd, stdin=_devnull(), stdout=stdout, stderr=stdout,
        start_new_session=True, close_fds=True,
    )
    return Child(popen)


_DEVNULL_FD: int | None = None


def _devnull() -> int:
    """One /dev/null descriptor for every child's stdin (``subprocess.DEVNULL`` opens one per process)."""
    global _DEVNULL_FD
    if _DEVNULL_FD is None:
        _DEVNULL_FD = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _DEVNULL_FD


async def wait_by(child: Child, deadline: float | None) -> bool:
    """Wait for the leader to exit until ``deadline`` (event-loop time; None: no limit); True when the
    deadline came first (the child is then still running)."""
    try:
        async with asyncio.timeout_at(deadline):
            await child.wait()
    except TimeoutError:
        return True
    return False


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its credentials (setuid); it still exists
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: they are dead, only not yet reaped,
    and where PID 1 does not reap orphans they would otherwise count forever."""
    if not signal_group(pgid, 0):
        return False
    try:
        entries = os.scandir("/proc")
    except OSError:
        return True
    with entries:
        for entry in entries:
            if entry.name.isdigit() and _live_member(entry.name, pgid):
                return True
    return False


def _live_member(pid: str, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    return len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X")


async def _wait_gone(child: Child, timeout_s: float) -> bool:
    """Reap the leader and wait (polling /proc: non-children cannot be awaited) until the group is empty."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = _POLL_FIRST_S
    while True:
        leader_reaped = child.returncode is not None
        if leader_reaped and not group_alive(child.pgid):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, _POLL_MAX_S)


async def stop_group(child: Child, grace_s: float) -> None:
    """SIGTERM the whole group, SIGKILL what is left after ``grace_s``, reap the leader and return once no
    process of the group is left (or after ``GONE_TIMEOUT_S``). A cancellation arriving meanwhile
    SIGKILLs at once, reaps the leader and is re-raised."""
    try:
        if child.returncode is not None and not group_alive(child.pgid):
            return  # the common case after a normal exit: nothing left behind, one or two syscalls
        if signal_group(child.pgid, signal.SIGTERM) and await _wait_gone(child, grace_s):
            return
        signal_group(child.pgid, signal.SIGKILL)
        await _wait_gone(child, GONE_TIMEOUT_S)
    except asyncio.CancelledError:
        kill_now(child)
        raise


def kill_now(child: Child) -> None:
    """Synchronous last resort: SIGKILL the group and reap the leader (prompt after SIGKILL)."""
    signal_group(child.pgid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        child.popen.wait()


class OutputPump:
    """Reads a pipe on the event loop as data arrives and hands each chunk to ``write`` at once."""

    def __init__(self, fd: int, write: Callable[[bytes], None]) -> None:
        self._fd: int | None = fd
        self._write = write
        self.error: Exception | None = None
        self._loop = asyncio.get_running_loop()
        self.eof: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, CHUNK)
            if data:
                self._write(data)
                return
        except BlockingIOError:
            return
        except Exception as exc:  # a failing sink or pipe ends the pump; the step sees it in ``error``
            self.error = exc
        self.close()
        if not self.eof.done():
            self.eof.set_result(None)

    async def drain(self, timeout_s: float) -> bool:
        """Wait for end of output; False if something outside the group still holds the pipe open."""
        if self.eof.done():
            return True
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self.eof)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None


def leftovers(run_id: str) -> set[int]:
    """Processes on this machine left from ``run_id``'s steps: those carrying ``WISHSTAR_RUN_ID=<run_id>`` in
    their environment, and every other member of their sessions (a child that cleared its environment but
    stayed in its step's session). Zombies do not count. This process and its own session never do.

    Why a marker and not recorded pids: a dead engine's pids may have been reused by anything since; the
    marker is in the environment of exactly the run's step processes and their descendants (a session id is
    only matched while a marked process keeps that session in use, so it cannot be a reused one)."""
    marker = f"WISHSTAR_RUN_ID={run_id}".encode()
    me, my_session = os.getpid(), os.getsid(0)
    stats = _process_stats()
    marked = {pid for pid, (_state, session) in stats.items() if pid != me and _has_marker(pid, marker)}
    sessions = {stats[pid][1] for pid in marked} - {my_session}
    return {pid for pid, (state, session) in stats.items()
            if pid != me and state not in (b"Z", b"X") and (pid in marked or session in sessions)}


def _process_stats() -> dict[int, tuple[bytes, int]]:
    """pid -> (state, session id) of every process visible in /proc."""
    out: dict[int, tuple[bytes, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # the command name may hold spaces and parentheses
        if len(fields) > 3:
            out[int(entry)] = (fields[0], int(fields[3]))
    return out


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read(256 * 1024)
    except OSError:  # gone, or another user's
        return False
    return marker in environ.split(b"\0")


def kill_leftovers(run_id: str) -> int:
    """SIGKILL every process ``leftovers(run_id)`` finds (for runs whose engine died: SIGKILL, power loss;
    their steps ran in sessions of their own and outlive it). Returns how many were signalled."""
    killed = 0
    for pid in leftovers(run_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


async def stop_leftovers(run_id: str, timeout_s: float = GONE_TIMEOUT_S) -> int:
    """Kill ``run_id``'s leftover processes and wait until none is left (a process forking while it is killed
    is found by the next round), at most ``timeout_s``; returns how many were signalled in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    killed, delay = 0, _POLL_FIRST_S
    while True:
        killed += await asyncio.to_thread(kill_leftovers, run_id)
        if not await asyncio.to_thread(leftovers, run_id) or loop.time() >= deadline:
            return killed
        await asyncio.sleep(delay)
        delay = min(delay * 2, _POLL_MAX_S)
