"""The run store: runs, tasks and steps in SQL (SQLite by default, PostgreSQL by URL), step logs as files.

Import from here: ``Store``, ``TaskRow``, the errors, and the log types the runner hands to executors.
"""

from wishstar.engine.store.api import Store, TaskRow, process_is_alive
from wishstar.engine.store.errors import AmbiguousRun, InvalidStatus, RunNotFound, StoreError
from wishstar.engine.store.logs import LogStore, Masker, StepLog, StepLogWriter, TaskLogSink, follow, tail

__all__ = [
    "AmbiguousRun",
    "InvalidStatus",
    "LogStore",
    "Masker",
    "RunNotFound",
    "StepLog",
    "StepLogWriter",
    "Store",
    "StoreError",
    "TaskLogSink",
    "TaskRow",
    "follow",
    "process_is_alive",
    "tail",
]
