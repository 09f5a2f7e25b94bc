"""Process-group helpers: awaiting exit without threads, pumping output, stopping a group for good."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from tests.executors.support import PATH_ONLY, kill_quietly, process_gone, wait_for_file
from wishstar.engine.executors import procs


async def spawn(argv: list[str], chunks: list[bytes]) -> tuple[procs.Child, procs.OutputPump]:
    read_fd, write_fd = os.pipe()
    try:
        child = procs.spawn(argv, PATH_ONLY, "/", write_fd)
    finally:
        os.close(write_fd)
    return child, procs.OutputPump(read_fd, chunks.append)


class TestChild:
    def test_waiting_for_exit_starts_no_thread(self) -> None:
        async def main() -> tuple[int, int]:
            chunks: list[bytes] = []
            before = threading.active_count()
            child, pump = await spawn(["/bin/sh", "-c", "exit 5"], chunks)
            code = await child.wait()
            during = threading.active_count() - before
            await pump.drain(5)
            pump.close()
            child.close()
            return code, during

        assert asyncio.run(main()) == (5, 0)

    def test_the_child_leads_its_own_process_group(self) -> None:
        async def main() -> tuple[int, int]:
            chunks: list[bytes] = []
            child, pump = await spawn(["/bin/sh", "-c", "cut -d' ' -f5 /proc/$$/stat"], chunks)
            await child.wait()
            await pump.drain(5)
            pump.close()
            child.close()
            return child.pgid, int(b"".join(chunks))

        pgid, reported = asyncio.run(main())
        assert pgid == reported != os.getpgrp()


class TestStopGroup:
    def test_stop_group_returns_at_once_when_nothing_is_left(self) -> None:
        async def main() -> None:
            child, pump = await spawn(["/bin/true"], [])
            await child.wait()
            await procs.stop_group(child, grace_s=60)
            pump.close()
            child.close()

        asyncio.run(asyncio.wait_for(main(), 10))

    def test_stop_group_kills_members_that_outlive_the_leader(self, tmp_path: Path) -> None:
        pid_file = tmp_path / "bg.pid"

        async def main() -> int:
            child, pump = await spawn(["/bin/sh", "-c", f'sleep 1000 & echo $! > "{pid_file}"'], [])
            await child.wait()
            pid = int(await wait_for_file(pid_file))
            assert procs.group_alive(child.pgid)
            await procs.stop_group(child, grace_s=5)
            assert not procs.group_alive(child.pgid)
            await pump.drain(5)
            pump.close()
            child.close()
            return pid

        pid = asyncio.run(main())
        try:
            assert process_gone(pid)
        finally:
            kill_quietly(pid)


class TestGroupAlive:
    def test_a_group_that_never_existed_is_not_alive(self) -> None:
        assert not procs.group_alive(2**22 - 7)


class TestLeftovers:
    """What a dead engine's steps left running, found by the run's marker, and nothing else."""

    def test_a_runs_marked_processes_and_their_session_members_are_found_and_killed(self, tmp_path: Path) -> None:
        pids = tmp_path / "pids"
        marked_env = {**PATH_ONLY, "WISHSTAR_RUN_ID": "deadbeef0001"}
        script = f'sleep 1000 & env -i /bin/sleep 1001 & echo "$! $$" > "{pids}.tmp"; mv "{pids}.tmp" "{pids}"; wait'

        async def main() -> tuple[set[int], set[int], int, set[int]]:
            step = procs.spawn(["/bin/sh", "-c", script], marked_env, "/", os.open(os.devnull, os.O_WRONLY))
            other_run = procs.spawn(["/bin/sleep", "1002"], {**PATH_ONLY, "WISHSTAR_RUN_ID": "deadbeef0002"}, "/",
                                    os.open(os.devnull, os.O_WRONLY))
            unrelated = procs.spawn(["/bin/sleep", "1003"], PATH_ONLY, "/", os.open(os.devnull, os.O_WRONLY))
            cleared, shell = (int(p) for p in (await wait_for_file(pids)).split())
            found = procs.leftovers("deadbeef0001")
            killed = await procs.stop_leftovers("deadbeef0001", timeout_s=10)
            await step.wait()
            survivors = {p.popen.pid for p in (other_run, unrelated) if p.popen.poll() is None}
            for child in (other_run, unrelated):
                procs.kill_now(child)
            return found, {shell, cleared}, killed, survivors

        found, expected, killed, survivors = asyncio.run(asyncio.wait_for(main(), 30))
        # the shell, its marked `sleep 1000`, and `sleep 1001` whose environment was emptied (same session)
        assert expected <= found and len(found) == 3 and killed == 3
        assert all(process_gone(pid) for pid in found)
        assert len(survivors) == 2  # another run's process and an unmarked one are left alone

    def test_a_run_with_nothing_left_has_no_leftovers(self) -> None:
        assert procs.leftovers("feedface0000") == set()
        assert asyncio.run(procs.stop_leftovers("feedface0000")) == 0
