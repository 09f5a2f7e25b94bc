"""Step log files: masking across chunk boundaries, the size cap, the live tail, tail and follow."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wishstar.engine.store import LogStore, Masker, StepLogWriter, TaskLogSink, follow, tail

secret_values = st.lists(st.text(alphabet="abcxyz\n", min_size=1, max_size=6), min_size=1, max_size=4)
streams = st.text(alphabet="abcxyz\n ", max_size=120)


def _mask_in_chunks(secrets: list[str], data: bytes, cuts: list[int]) -> bytes:
    masker = Masker(secrets)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    out = b"".join(masker.feed(data[a:b]) for a, b in itertools.pairwise(bounds))
    return out + masker.flush()


class TestMasking:
    @settings(max_examples=300, deadline=None)
    @given(secrets=secret_values, text=streams, cuts=st.lists(st.integers(min_value=0, max_value=200)))
    def test_no_split_of_a_stream_leaks_a_secret(self, secrets: list[str], text: str,
                                                 cuts: list[int]) -> None:
        data = "".join(f"{text}{s}" for s in secrets).encode()  # every secret occurs at least once
        out = _mask_in_chunks(secrets, data, cuts)
        assert all(s.encode() not in out for s in secrets)
        assert out == _mask_in_chunks(secrets, data, [])

    def test_a_secret_split_byte_by_byte_is_masked(self) -> None:
        data = b"token=hunter2 done"
        out = _mask_in_chunks(["hunter2"], data, list(range(len(data))))
        assert out == b"token=*** done"

    def test_the_longest_overlapping_secret_wins(self) -> None:
        assert _mask_in_chunks(["abc", "abcdef"], b"xabcdefx", [3]) == b"x***x"

    def test_at_most_the_longest_secret_minus_one_byte_is_held_back(self) -> None:
        masker = Masker(["secret"])
        assert masker.feed(b"hello world") == b"hello "
        assert masker.flush() == b"world"

    def test_each_long_line_of_a_multi_line_secret_is_masked_on_its_own(self) -> None:
        key = "-----BEGIN KEY-----\r\nMIIEowIBAAKCAQEA\r\n}\r\n-----END KEY-----"
        printed = b"> -----BEGIN KEY-----\n> MIIEowIBAAKCAQEA\n> }\n"
        assert _mask_in_chunks([key], printed, [5, 30]) == b"> ***\n> ***\n> }\n"

    def test_without_secrets_chunks_pass_through_at_once(self) -> None:
        assert Masker([]).feed(b"abc") == b"abc"


class TestWriter:
    def test_chunks_reach_the_file_at_once_less_a_secrets_length(self, tmp_path: Path) -> None:
        writer = StepLogWriter(tmp_path / "s.log", ["pw123"])
        writer.write(b"line one\n")
        assert (tmp_path / "s.log").read_bytes() == b"line "
        writer.write(b"pw1")
        writer.write(b"23\n")
        writer.close()
        assert (tmp_path / "s.log").read_bytes() == b"line one\n***\n"

    def test_a_log_over_the_cap_ends_with_one_marker_line(self, tmp_path: Path) -> None:
        writer = StepLogWriter(tmp_path / "s.log", limit=10)
        for _ in range(5):
            writer.write(b"abcdefg")
        writer.close()
        assert (tmp_path / "s.log").read_bytes() == b"abcdefgabc\n[wishstar: log truncated at 10 bytes]\n"
        assert (writer.written, writer.dropped, writer.truncated) == (10, 25, True)

    def test_closing_twice_is_harmless(self, tmp_path: Path) -> None:
        writer = StepLogWriter(tmp_path / "s.log")
        writer.close()
        writer.close()


class TestSink:
    def test_steps_go_to_the_documented_layout(self, tmp_path: Path) -> None:
        logs = LogStore(tmp_path)
        sink = logs.sink("0123456789ab", "test[py3.11,linux]", 2, ["s3cr3t"])
        writer = sink.open_step("unit")
        writer.write(b"password is s3cr3t\n")
        writer.close()
        path = tmp_path / "logs/0123456789ab/test[py3.11,linux]/2/unit.log"
        assert path.read_bytes() == b"password is ***\n"
        assert sink.step_logs()["unit"].size == len(b"password is ***\n")

    def test_names_cannot_escape_the_run_directory(self, tmp_path: Path) -> None:
        path = LogStore(tmp_path).step_path("0123456789ab", "../..", 1, "a/b")
        assert path.resolve().is_relative_to((tmp_path / "logs" / "0123456789ab").resolve())

    def test_the_live_tail_keeps_the_last_lines_masked(self, tmp_path: Path) -> None:
        sink = TaskLogSink(LogStore(tmp_path), "0123456789ab", "build", 1, ["hush"], tail_lines=3)
        writer = sink.open_step("compile")
        for i in range(10):
            writer.write(f"line {i} hush\n".encode())
        writer.write(b"partial")
        writer.close()
        assert sink.tail() == ["line 8 ***", "line 9 ***", "partial"]


class TestReading:
    @pytest.mark.parametrize("count", [0, 1, 3, 50], ids=["none", "one", "some", "more-than-the-file"])
    def test_tail_returns_the_last_lines(self, tmp_path: Path, count: int) -> None:
        path = tmp_path / "s.log"
        path.write_bytes(b"".join(f"line {i}\n".encode() for i in range(20)))
        assert list(tail(path, count)) == [f"line {i}" for i in range(20)][20 - min(count, 20):][:count]

    def test_tail_reads_across_block_boundaries(self, tmp_path: Path) -> None:
        path = tmp_path / "s.log"
        path.write_bytes(b"x" * 200_000 + b"\nlast\n")
        assert list(tail(path, 2)) == ["x" * 200_000, "last"]

    def test_tail_reads_no_more_than_its_byte_bound(self, tmp_path: Path) -> None:
        path = tmp_path / "s.log"
        path.write_bytes(b"y" * 500_000)
        assert len(next(tail(path, 1, max_bytes=65_536))) <= 65_536

    def test_follow_sees_lines_appended_while_it_waits(self, tmp_path: Path) -> None:
        path = tmp_path / "s.log"
        path.write_bytes(b"first\n")
        appends = [b"second\nthi", b"rd\n", b"tail without newline"]
        done = []

        def sleep(_: float) -> None:  # each poll appends the next piece instead of waiting
            if appends:
                with open(path, "ab") as f:
                    f.write(appends.pop(0))
            else:
                done.append(True)

        lines = list(follow(path, lambda: bool(done), sleep=sleep))
        assert lines == ["first", "second", "third", "tail without newline"]

    def test_follow_waits_for_the_file_to_appear(self, tmp_path: Path) -> None:
        path = tmp_path / "late.log"
        polls = []

        def sleep(_: float) -> None:
            polls.append(1)
            if len(polls) == 2:
                path.write_bytes(b"hello\n")

        assert list(follow(path, lambda: len(polls) >= 4, sleep=sleep)) == ["hello"]
