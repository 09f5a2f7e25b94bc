"""The detectors Wishstar knows, in one list, and the one call the road and the CLI make.

Adding an ecosystem means writing its module (a ``Detector``) and listing it here; the order matters only for
the "nothing matched" message (conflicts are settled by ``repo``'s documented rules, not by this order).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wishstar.pipelines.detect.base import Detector
from wishstar.pipelines.detect.evidence import Detection
from wishstar.pipelines.detect.repo import detect
from wishstar.pipelines.detect.tree import Tree


def detectors() -> tuple[Detector, ...]:
    from wishstar.pipelines.detect import container, dotnet, golang, java, node, python

    return (java.DETECTOR, dotnet.DETECTOR, golang.DETECTOR, python.DETECTOR, node.DETECTOR,
            container.DOCKERFILE, container.STATIC)


def detect_repository(root: Path, *, which: Callable[[str], bool] | None = None) -> Detection:
    """What the repository (or project directory) at ``root`` is."""
    tree = Tree(root) if which is None else Tree(root, which)
    return detect(root, detectors(), tree=tree)
