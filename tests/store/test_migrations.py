"""Schema migrations: run on open, idempotent, cheap at head, and in step with the models."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from wishstar.engine.store import Store, db
from wishstar.engine.store.models import Base


def test_the_head_constant_is_alembics_head() -> None:
    assert ScriptDirectory.from_config(db.alembic_config()).get_current_head() == db.HEAD


def test_opening_migrates_to_head(store: Store) -> None:
    with db.read(store.engine) as conn:
        assert db.current_revision(conn) == db.HEAD


def test_migrating_again_changes_nothing(open_store: Callable[[], Store]) -> None:
    first = open_store()
    run_id, _ = first.create_run("ci")
    db.migrate(first.engine)
    second = open_store()
    assert second.get_run(run_id).number == 1
    with db.read(second.engine) as conn:
        assert db.current_revision(conn) == db.HEAD


def test_the_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
