"""Durations as written in pipeline and task files ("90s", "10m", "1h30m", Go's "1h0m0s") to seconds. Pure."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (Go's duration syntax, which Tekton uses too: ``"1h30m"``, ``"1.5h"``, ``"300ms"``,
    ``"0"``); ``ValueError`` with a hint when it is not a duration. Negative durations are refused."""
    compact = text.strip()
    if compact == "0":
        return 0.0
    compact = compact[1:] if compact.startswith("+") else compact
    pos, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not compact or pos != len(compact):
        raise ValueError(f'"{text}" is not a duration (write e.g. "90s", "10m" or "1h30m")')
    return total


def format_duration(seconds: float) -> str:
    """A short human form: 0.4s, 12s, 3m05s, 1h02m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
