"""Errors the run store reports to the user (the CLI prints them without a stack trace)."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from wishstar.engine.spec.errors import WishstarError


class StoreError(WishstarError):
    """Base of the run store's user-facing errors."""


class RunNotFound(StoreError):
    """No run matches the id, id prefix or ``pipeline#number`` given."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(f'no run matches "{ref}" (give a run id, a unique id prefix or pipeline#number)')


class AmbiguousRun(StoreError):
    """An id prefix that matches more than one run."""

    def __init__(self, ref: str, candidates: list[str]) -> None:
        self.ref = ref
        self.candidates = candidates
        shown = ", ".join(candidates[:5])
        super().__init__(f'run id prefix "{ref}" matches several runs ({shown}); give more characters')


class InvalidStatus(StoreError):
    """A status outside the documented set."""

    def __init__(self, kind: str, status: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f'unknown {kind} status "{status}" (expected one of: {", ".join(allowed)})')


class StoreUnavailable(StoreError):
    """The database behind the store cannot be opened (a bad URL, a missing driver, a server that refuses)."""


# The database failed or could not be reached. SQLAlchemy's base error, under a store name: code outside the
# store catches it without importing SQLAlchemy (import-linter keeps SQLAlchemy inside the store).
DatabaseError = SQLAlchemyError
