"""Log streams: the API server's timestamps are stripped, and a resumed stream writes no line twice."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from wishstar.engine.executors.kubernetes.logs import TimestampedLines, since_time

LOG = (b"2026-01-01T10:00:00.100000001Z hello\n"
       b"2026-01-01T10:00:00.200000000Z world with spaces\n"
       b"2026-01-01T10:00:01.5Z partial")


def collect(chunks: list[bytes], after: str | None = None) -> tuple[bytes, TimestampedLines]:
    out: list[bytes] = []
    lines = TimestampedLines(out.append, after)
    for chunk in chunks:
        lines.feed(chunk)
    lines.close()
    return b"".join(out), lines


def test_timestamps_are_stripped_and_the_last_one_remembered() -> None:
    text, lines = collect([LOG])
    assert text == b"hello\nworld with spaces\npartial"
    assert lines.last == "2026-01-01T10:00:01.5Z"


@given(st.lists(st.integers(min_value=1, max_value=len(LOG) - 1), max_size=6))
def test_any_chunking_gives_the_same_text(cuts: list[int]) -> None:
    points = [0, *sorted(set(cuts)), len(LOG)]
    chunks = [LOG[a:b] for a, b in itertools.pairwise(points)]
    assert collect(chunks)[0] == b"hello\nworld with spaces\npartial"


def test_a_resumed_stream_drops_lines_up_to_the_last_timestamp_written() -> None:
    # after a drop the stream is reopened with sinceTime at whole seconds: it repeats the first two lines
    text, _ = collect([LOG], after="2026-01-01T10:00:00.200000000Z")
    assert text == b"partial"


def test_lines_without_a_timestamp_pass_unchanged() -> None:
    assert collect([b"not-a-time line\n"])[0] == b"not-a-time line\n"
    long_line = b"x" * 200 + b"\n"
    assert collect([long_line])[0] == long_line


def test_since_time_is_whole_seconds() -> None:
    assert since_time("2026-01-01T10:00:00.200000000Z") == "2026-01-01T10:00:00Z"
