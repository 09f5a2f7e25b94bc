"""Schema migrations: run on open, idempotent, cheap at head, and in step with the models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from wishstar.engine.store import Store, TaskRow, db
from wishstar.engine.store.deployments import Deployments
from wishstar.engine.store.models import Base, pipelines, runs


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


def test_a_database_at_0006_upgrades_to_deployments_keeping_its_runs(store_url: str | None, tmp_path: Path) -> None:
    """A store written before deployments existed: opening it adds the table and keeps what was there."""
    from alembic import command

    engine = db.make_engine(store_url or db.sqlite_url(tmp_path / "state"))
    (tmp_path / "state").mkdir(exist_ok=True)
    with db.write(engine) as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006_api_tokens")
    with db.write(engine) as conn:
        conn.execute(pipelines.insert().values(name="old", last_number=1))
        conn.execute(runs.insert().values(id="0123456789ab", pipeline="old", number=1, status="succeeded",
                                          params={}, git={"branch": "main"}, created_at=1.0,
                                          cancel_requested=False))
    engine.dispose()
    with Store.open(store_url, tmp_path / "state") as store:
        with db.read(store.engine) as conn:
            assert db.current_revision(conn) == db.HEAD
        assert store.get_run("0123456789ab").pipeline == "old"
        store.upsert_tasks("0123456789ab", [TaskRow(name="deploy", status="succeeded", results={
            "RELEASE_NAME": "old", "RELEASE_REVISION": "4"})])
        assert [d.revision for d in Deployments(store).current("old")] == [4]
