"""Where the public conformance data (``../shared/conformance``) is: read in place, never copied.

Looked up next to the project, then at ``WISHSTAR_CONFORMANCE_DIR``, then at /work/shared/conformance (this
machine's copy, for checkouts made elsewhere). With ``CI_REQUIRE_CONFORMANCE=1`` (set by .ci/run) a missing
copy fails the tests that need it instead of skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def conformance_dir() -> Path | None:
    candidates = [ROOT.parent / "shared" / "conformance"]
    if os.environ.get("WISHSTAR_CONFORMANCE_DIR"):
        candidates.insert(0, Path(os.environ["WISHSTAR_CONFORMANCE_DIR"]))
    candidates.append(Path("/work/shared/conformance"))
    return next((c for c in candidates if c.is_dir()), None)


def require_conformance() -> Path:
    found = conformance_dir()
    if found is None:
        message = "conformance data not found (../shared/conformance or WISHSTAR_CONFORMANCE_DIR)"
        if os.environ.get("CI_REQUIRE_CONFORMANCE") == "1":
            pytest.fail(message)
        pytest.skip(reason=message)
    return found
