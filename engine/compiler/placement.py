"""Placement: a chain of tasks with no parallelism between them, compiled into ONE task, so ONE Pod on Kubernetes.

Why it exists: a Pod per task forces a PersistentVolumeClaim between tasks that only hand files to each other
one after another (tektoncd/pipeline#3476, #2586). When ``T1 -> T2 -> ... -> Tk`` is a chain (each task has
exactly one successor, which has exactly one predecessor), nothing runs beside it, so its steps can run in one
Pod in order: the workspaces only it uses become emptyDirs, and each hand-over costs no Pod start.

A merged chain is one ``TaskPlan`` named ``build+test+package`` with ``members`` set: its steps are the
members' steps in order (named ``task.step``), its needs the first member's, its results every member's as
``task.result``. Inside the group a member's ``$(results.r.path)`` is ``/wishstar/results/<task>.<r>`` (each
member its own result files), and a later member's ``$(tasks.A.results.r)`` becomes the shell command
substitution ``$(cat '/wishstar/results/A.r')`` in its script: the value is read by the shell when the step
runs and is never parsed as shell code (a command substitution's output only undergoes word splitting), unlike
inserting the text into the script, which the runner does for results of tasks in other Pods... and which, for a
value from an earlier step of the same Pod, is not possible at all, since the Pod's scripts are written before
it starts. So such references are only allowed in scripts run by ``sh`` (no other shebang); anywhere else they
keep the consumer out of the chain.

What it must not do: run on local plans (``cli/run_cmd.py`` applies it for ``--executor kubernetes`` only),
or change the meaning of a task it merges: a task that could be skipped, retried, fail without failing the run,
or fan out stays in its own Pod, and ``placement_notes`` says why. Pure: plan in, plan out.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import replace

from wishstar.engine.compiler.entrypoint import RESULTS_DIR
from wishstar.engine.compiler.pods import default_workdir, mount_path
from wishstar.engine.compiler.types import Edge, Plan, ResultRef, RetryPlan, StepPlan, TaskPlan, WorkspaceBinding
from wishstar.engine.dag import Graph
from wishstar.engine.spec.subst import Ref, substitute


def ineligible(task: TaskPlan) -> str | None:
    """Why ``task`` cannot share a Pod with others, or None."""
    if task.is_finally:
        return "finally tasks run after all the others"
    if task.when:
        return "it has a `when` condition, so it may be skipped on its own"
    if task.matrix:
        return "it is a matrix instance"
    if task.retries.limit:
        return "it has retries, and a retry is a new Pod"
    if task.allow_failure:
        return "it may fail without failing the run (allowFailure)"
    if task.uses:
        return "it is a library task (`uses:`), which works in its image's own directory"
    return None


def _sh_script(step: StepPlan) -> bool:
    """Whether the entrypoint runs this step's script with sh (no shebang, or a sh/bash one)."""
    if step.script is None:
        return False
    first = step.script.split("\n", 1)[0]
    if not first.startswith("#!"):
        return True
    return posixpath.basename(first[2:].split()[0] if first[2:].split() else "") in ("sh", "bash", "dash", "ash") \
        or first.rstrip().endswith(("/env sh", "/env bash"))


def _mentions(step: StepPlan, needle: str, *, script: bool) -> bool:
    texts = [*(step.command or ()), *step.args, step.working_dir or "", *(e.value or "" for e in step.env)]
    if script:
        texts.append(step.script or "")
    return any(needle in t for t in texts)


def _joinable(chain: list[TaskPlan], task: TaskPlan) -> str | None:
    """Why ``task`` cannot follow ``chain`` in the same Pod, or None."""
    first = chain[0]
    if task.kubernetes != first.kubernetes:
        return f'its `kubernetes:` settings differ from "{first.name}"\'s'
    if (task.timeout_s is None) != (first.timeout_s is None):
        return f'it {"has" if task.timeout_s is not None else "has no"} time limit and "{first.name}" ' \
               f'{"has none" if task.timeout_s is not None else "has one"}'
    bound = {b.name: b for t in chain for b in t.workspaces}
    paths = {mount_path(b): b.name for b in bound.values()}
    for b in task.workspaces:
        old = bound.get(b.name)
        if old is not None and (old.pipeline_workspace, old.mount_path, old.read_only) != \
                (b.pipeline_workspace, b.mount_path, b.read_only):
            return f'its workspace "{b.name}" is bound differently in an earlier task of the chain'
        if old is None and paths.get(mount_path(b), b.name) != b.name:
            return f"its workspace \"{b.name}\" is mounted where another task's is"
    members = {t.name for t in chain}
    for ref in task.result_refs:
        if ref.task not in members:
            continue
        needle = f"$(tasks.{ref.task}.results.{ref.result})"
        for step in task.steps:
            if _mentions(step, needle, script=not _sh_script(step)):
                return f'it uses a result of "{ref.task}" outside a sh script'
    return None


def _graph(tasks: Mapping[str, TaskPlan]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Successors and predecessors without the needs that another need already implies (``package`` needs
    ``build`` for its result and ``test``, which needs ``build``: only ``test`` counts). ``tasks`` is in
    topological order."""
    ancestors: dict[str, set[str]] = {}
    pred: dict[str, list[str]] = {}
    for name, task in tasks.items():
        ancestors[name] = set(task.needs).union(*(ancestors[n] for n in task.needs))
        implied = set().union(*(ancestors[n] for n in task.needs))
        pred[name] = [n for n in task.needs if n not in implied]
    succ: dict[str, list[str]] = {n: [] for n in tasks}
    for name, needs in pred.items():
        for need in needs:
            succ[need].append(name)
    return succ, pred


def chains(plan: Plan) -> tuple[list[list[str]], list[str]]:
    """Maximal mergeable chains (two tasks or more), in plan order, and notes on links that were refused."""
    succ, pred = _graph(plan.tasks)
    taken: set[str] = set()
    found: list[list[str]] = []
    notes: list[str] = []
    reasons = {n: ineligible(t) for n, t in plan.tasks.items()}
    for name in plan.tasks:
        if name in taken:
            continue
        chain = [plan.tasks[name]]
        while len(succ[chain[-1].name]) == 1:
            nxt = succ[chain[-1].name][0]
            if len(pred[nxt]) != 1:
                break
            why = reasons[chain[-1].name] if len(chain) == 1 and reasons[chain[-1].name] else None
            if why:
                notes.append(f'"{chain[-1].name}" stays in its own Pod: {why}')
                break
            why = reasons[nxt] or _joinable(chain, plan.tasks[nxt])
            if why:
                notes.append(f'"{nxt}" stays out of the Pod of "{chain[-1].name}": {why}')
                break
            chain.append(plan.tasks[nxt])
        taken.update(t.name for t in chain)
        if len(chain) > 1:
            found.append([t.name for t in chain])
    return found, notes


def _rewrite_step(step: StepPlan, member: TaskPlan, earlier: Mapping[str, TaskPlan]) -> StepPlan:
    """One member's step as a step of the merged task (see the module docstring)."""

    def own(ref: Ref) -> str | None:
        p = ref.parts
        if not ref.star and len(p) == 3 and p[0] == "results" and p[2] == "path" and p[1] in member.results:
            return f"{RESULTS_DIR}/{member.name}.{p[1]}"
        return None

    def in_pod(ref: Ref) -> str | None:
        p = ref.parts
        if not ref.star and len(p) == 4 and p[0] == "tasks" and p[2] == "results" and p[1] in earlier:
            return f"$(cat {shlex.quote(f'{RESULTS_DIR}/{p[1]}.{p[3]}')})"
        return own(ref)

    base = default_workdir(member)
    chosen = step.working_dir or member.working_dir
    if chosen is not None and base is not None and not chosen.startswith(("/", "$(")):
        chosen = posixpath.join(base, chosen)
    workdir = chosen if chosen is not None else base
    return replace(
        step, name=f"{member.name}.{step.name}", image=step.image or member.image,
        script=substitute(step.script, in_pod) if step.script is not None else None,
        command=tuple(substitute(c, own) for c in step.command) if step.command else None,
        args=tuple(substitute(a, own) for a in step.args),
        env=tuple(replace(e, value=substitute(e.value, own)) if e.value is not None else e for e in step.env),
        working_dir=substitute(workdir, own) if workdir is not None else None,
    )


def merge(members: list[TaskPlan], others: list[TaskPlan]) -> TaskPlan:
    """One task for the chain ``members``; ``others`` are the plan's other tasks (for emptyDir workspaces)."""
    names = {m.name for m in members}
    steps: list[StepPlan] = []
    for i, member in enumerate(members):
        earlier = {m.name: m for m in members[:i]}
        steps.extend(_rewrite_step(s, member, earlier) for s in member.steps)
    bindings: dict[str, WorkspaceBinding] = {}
    for member in members:
        for b in member.workspaces:
            # implicit: the merged task has no default directory; each step carries its member's own
            bindings.setdefault(b.name, replace(b, implicit=True))
    elsewhere = {b.pipeline_workspace for t in others for b in t.workspaces}
    local = tuple(dict.fromkeys(b.pipeline_workspace for b in bindings.values()
                                if b.pipeline_workspace not in elsewhere))
    timeouts = [m.timeout_s for m in members]
    first = members[0]
    return TaskPlan(
        name="+".join(m.name for m in members), base="+".join(m.base for m in members), is_finally=False,
        uses=None, image=None, steps=tuple(steps),
        needs=tuple(sorted({n for m in members for n in m.needs if n not in names})),
        result_refs=tuple(dict.fromkeys(r for m in members for r in m.result_refs if r.task not in names)),
        when=None, results=tuple(f"{m.name}.{r}" for m in members for r in m.results),
        workspaces=tuple(bindings.values()), working_dir=None,
        timeout_s=sum(t for t in timeouts if t is not None) if all(t is not None for t in timeouts) else None,
        retries=RetryPlan(), allow_failure=False, params=first.params,
        notes=tuple(dict.fromkeys(n for m in members for n in m.notes)), kubernetes=first.kubernetes,
        members=tuple(m.name for m in members), local_workspaces=local,
        interruptible=all(m.interruptible for m in members),  # stopping the Pod would stop every member
    )


def apply_placement(plan: Plan) -> Plan:
    """The plan with each mergeable chain as one task, per ``plan.placement`` (unchanged for pod-per-task)."""
    if plan.placement == "pod-per-task":
        return plan
    found, notes = chains(plan)
    if not found:
        return replace(plan, placement_notes=tuple(notes))
    owner = {name: "+".join(chain) for chain in found for name in chain}
    merged: dict[str, TaskPlan] = {}
    for chain in found:
        others = [t for t in plan.all_tasks() if t.name not in chain]
        merged[owner[chain[0]]] = merge([plan.tasks[n] for n in chain], others)
    tasks: dict[str, TaskPlan] = {}
    for name, task in plan.tasks.items():
        if name in owner:
            task = merged[owner[name]]
        tasks[task.name] = replace(task, needs=tuple(sorted({owner.get(n, n) for n in task.needs})))
    reasons: dict[tuple[str, str], list[str]] = {}
    for edge in plan.edges:
        src, dst = owner.get(edge.source, edge.source), owner.get(edge.target, edge.target)
        if src != dst:
            known = reasons.setdefault((src, dst), [])
            known.extend(r for r in edge.reasons if r not in known)
    graph = Graph(list(tasks), reasons)
    return replace(
        plan, tasks={n: tasks[n] for n in graph.order},
        edges=tuple(Edge(s, d, graph.reasons(s, d)) for s, d in graph.edges()),
        layers=tuple(tuple(layer) for layer in graph.layers()),
        members=owner, placement_notes=tuple(notes))


def result_source(plan: Plan, ref: ResultRef) -> tuple[str, str]:
    """Where the run state keeps ``ref``'s value: (task, result), which for a member of a merged chain is
    (the merged task, ``member.result``)."""
    group = plan.members.get(ref.task)
    return (ref.task, ref.result) if group is None else (group, f"{ref.task}.{ref.result}")


def shared_workspaces(plan: Plan) -> tuple[str, ...]:
    """The pipeline workspaces that need the run's claim: all but those held in one Pod's emptyDir."""
    local = {w for t in plan.all_tasks() for w in t.local_workspaces}
    return tuple(w for w in plan.workspaces if w not in local)
