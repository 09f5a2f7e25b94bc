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
