"""A detection as the user reads it: the JSON of ``wishstar detect --output json`` and the text of the
plain output, including the "nothing matched" message (what was looked for, what was found, the nearest
miss, the one line to write by hand).

Shapes data only: no I/O, no detection logic.
"""

from __future__ import annotations

from typing import Any

from wishstar.pipelines.detect.evidence import App, Candidate, Chosen, Detection, Evidence


def evidence_json(ev: Evidence) -> dict[str, Any]:
    return {"file": ev.file, "line": ev.line, "rule": ev.rule}


def chosen_json(chosen: Chosen | None) -> dict[str, Any] | None:
    if chosen is None:
        return None
    shaped: dict[str, Any] = {"value": chosen.value}
    if chosen.evidence is not None:
        shaped["evidence"] = evidence_json(chosen.evidence)
    else:
        shaped["default"] = chosen.default
    return shaped


def candidate_json(c: Candidate) -> dict[str, Any]:
    return {"language": c.language, "build": c.build, "framework": c.framework, "confidence": c.confidence,
            "evidence": [evidence_json(e) for e in c.evidence]}


def app_json(app: App) -> dict[str, Any]:
    c = app.chosen
    return {
        "path": app.path, "context": app.context, "context_files": list(c.context), **candidate_json(c),
        "port": chosen_json(c.port), "versions": {k: chosen_json(v) for k, v in c.versions.items()},
        "alternatives": [candidate_json(a) for a in app.alternatives], "rule": app.rule,
        "warnings": list(c.warnings),
    }


def detection_json(d: Detection) -> dict[str, Any]:
    shaped: dict[str, Any] = {"apps": [app_json(a) for a in d.apps]}
    if not d.apps:
        shaped.update({"looked_for": dict(d.looked_for), "found": list(d.found),
                       "near_misses": [{"message": m.message, "evidence": evidence_json(m.evidence)
                                        if m.evidence else None} for m in d.near_misses],
                       "by_hand": by_hand_line()})
    return shaped


def by_hand_line() -> str:
    """The one line that says it by hand: a pipeline file with the project's test command."""
    return "printf 'name: app\\ntasks:\\n  test:\\n    script: make test\\n' > .wishstar.yaml"


def _value(chosen: Chosen) -> str:
    return f"{chosen.value} ({chosen.evidence})" if chosen.evidence else f"{chosen.value} (default: {chosen.default})"


def app_text(app: App) -> list[str]:
    c = app.chosen
    title = f"{app.path}: {c.language} with {c.build}" + (f", {c.framework}" if c.framework else "")
    lines = [f"{title}  [confidence {c.confidence}]"]
    lines += [f"  evidence  {e}" for e in c.evidence]
    if c.port is not None:
        lines.append(f"  port      {_value(c.port)}")
    lines += [f"  {name:<9} {_value(v)}" for name, v in c.versions.items()]
    if app.context != app.path or c.context:
        lines.append(f"  context   {app.context}" + (f" (needs {', '.join(c.context)})" if c.context else ""))
    for alt in app.alternatives:
        lines.append(f"  also      {alt.key}: " + "; ".join(str(e) for e in alt.evidence))
    if app.rule:
        lines.append(f"  chosen    by rule: {app.rule}")
    lines += [f"  warning   {w}" for w in c.warnings]
    return lines


def nothing_text(d: Detection, where: str) -> list[str]:
    lines = [f"{where}: nothing detected; Wishstar never guesses. Looked for:"]
    lines += [f"  {language}: {what}" for language, what in d.looked_for.items()]
    lines.append("found: " + (", ".join(d.found) if d.found else "no files (an empty repository)"))
    lines += [f"nearest miss: {m.message}" + (f" ({m.evidence})" if m.evidence else "") for m in d.near_misses]
    lines.append(f"say it by hand: {by_hand_line()}  (then edit the script)")
    return lines


def detection_text(d: Detection, where: str) -> list[str]:
    if not d.apps:
        return nothing_text(d, where)
    lines: list[str] = []
    for app in d.apps:
        lines += app_text(app)
    return lines
