"""The library of reusable tasks that pipeline tasks name with ``uses:`` (Tekton Task schema).

The code is in ``tasks.catalog`` (the ``Library`` and its errors) and ``tasks.index`` (a catalog directory's
layout); the built-in tasks are the YAML files in ``tasks/library/<name>/<version>/``. This module only
re-exports the names callers use, so ``from wishstar.tasks import Library`` keeps working. It must not hold
code of its own.
"""

from wishstar.tasks.catalog import (
    Catalog,
    Library,
    LibraryDirectoryMissing,
    Resolved,
    UnknownTask,
    UnknownVersion,
)

__all__ = ["Catalog", "Library", "LibraryDirectoryMissing", "Resolved", "UnknownTask", "UnknownVersion"]
