"""A restarted server finishes what it had started: ``wishstar serve`` (local executor) SIGKILLed at random
moments while push events arrive, and started again, on SQLite and on PostgreSQL (tests/webhook/kill_restart.py
is the scenario). Every accepted event ends as exactly one run, every run ends green as its pipeline says,
interrupted attempts are run again as new attempts ("engine restarted"), an attempt the store recorded as
finished is never run again, a dead engine's step processes never run alongside their replacement, and no
process is left behind.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.gitlab_standin import StandIn, gitlab
from tests.webhook.kill_restart import Outcome, kill_all, run_scenario
from tests.webhook.test_worker_support import db_url

__all__ = ["db_url", "gitlab"]

EVENTS, KILLS, SEED = 8, 3, 20261203


def _attempts(outcome: Outcome) -> dict[tuple[str, str], dict[int, dict[str, list[str]]]]:
    """(run, task) -> attempt -> {"start"|"end": marker line}."""
    out: dict[tuple[str, str], dict[int, dict[str, list[str]]]] = defaultdict(lambda: defaultdict(dict))
    for mark in outcome.marks:
        run, task, attempt, _engine, what, _at = mark
        assert what not in out[(run, task)][int(attempt)], f"attempt executed twice: {mark}"
        out[(run, task)][int(attempt)][what] = mark
    return out


def test_a_server_killed_and_restarted_finishes_every_run_it_had_started(tmp_path: Path, db_url: str | None,
                                                                        gitlab: StandIn) -> None:
    outcome = run_scenario(tmp_path, db_url, gitlab, backend="postgres" if db_url else "sqlite",
                           events=EVENTS, kills=KILLS, seed=SEED)
    try:
        runs = outcome.runs
        # every accepted event is exactly one run, and nothing else was run
        assert len(set(outcome.accepted)) == EVENTS
        assert len({r.id for r in runs}) == EVENTS == outcome.stored_runs
        # a CLI command while the server was down did not fail its runs ("the process running it is gone")
        assert outcome.reaped_while_down == []
        # the pipeline is green, so every run is, and GitLab heard so last for every commit
        assert [r.status for r in runs] == ["succeeded"] * EVENTS, [(r.id, r.reason) for r in runs]
        assert all(states[-1] == "success" for states in outcome.final_statuses.values()), outcome.final_statuses
        attempts = _attempts(outcome)
        for run in runs:
            for task in run.tasks:
                seen = attempts[(run.id, task.name)]
                # the last attempt ran to its end; an interrupted one may have left no mark (its engine died
                # between recording it and spawning its step), so the attempts seen end with the last one
                assert max(seen) == task.attempts and set(seen) <= set(range(1, task.attempts + 1)), (
                    run.id, task, seen)
                last = seen[task.attempts]
                assert "end" in last, (run.id, task)
                for n in sorted(a for a in seen if a < task.attempts):
                    interrupted, replacement = seen[n], seen[min(a for a in seen if a > n)]
                    engine = interrupted["start"][3]
                    # only a killed engine's attempt is run again, by another engine, after the kill
                    assert engine in outcome.kills_at, (run.id, task.name, n)
                    assert replacement["start"][3] != engine
                    assert float(replacement["start"][5]) > outcome.kills_at[engine]
                    # an attempt that ended was not recorded as ended only because the engine died first
                    if "end" in interrupted:
                        assert float(interrupted["end"][5]) > outcome.kills_at[engine] - 0.05
                    # the leftover never ran alongside its replacement: it was killed before that started
                    assert all(float(m[5]) < float(replacement["start"][5]) for m in interrupted.values())
        assert outcome.figures.reattempted >= 1, "no kill landed mid-task"
        assert outcome.figures.engine_restarted_seen >= 1
        # a kill during `compile` left its two background processes (60 s sleeps, one with an emptied
        # environment) running with nobody to stop them; the server that took the run over killed them
        assert any(task == "compile" and len(seen) > 1 for (_run, task), seen in attempts.items())
        assert outcome.left_behind == []
    finally:
        kill_all(outcome.left_behind)
