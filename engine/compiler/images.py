"""Steps that run their image's own entrypoint: which ones need a lookup, and the plan once it is done.

Why it exists: a Tekton step with neither ``command`` nor ``script`` runs the image's ENTRYPOINT (with its CMD,
or the step's ``args`` in place of CMD), as Kubernetes would run the container. Wishstar wraps every step in
its entrypoint script (``engine.compiler.entrypoint``), so it must know that command before it builds a Pod,
and a local run must know it to run anything at all. Tekton asks the registry for the image's config; so does
Wishstar, but outside the compiler: ``image_needs`` says which images must be looked up (and for which step
of which task, for messages), the caller asks the registry (``engine.executors.images``), and
``apply_image_configs`` fills the commands in from the answers.

What it must not do: any I/O. The lookup results arrive as a mapping, so the same plan and the same answers
give the same commands (and byte-identical manifests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from wishstar.engine.compiler.types import Plan, StepPlan, TaskPlan
from wishstar.engine.spec.errors import WishstarError

LOOKUP_HINT = "give the step a command, or make the registry reachable"


@dataclass(frozen=True)
class ImageConfig:
    """What an image's config says it runs: ``Entrypoint`` and ``Cmd`` (either may be empty)."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    digest: str | None = None
    """The manifest digest the answer was read from (recorded; the image reference is not rewritten)."""


@dataclass(frozen=True)
class ImageNeed:
    """One step that runs its image's entrypoint: the image to look up, and where it is used (for messages)."""

    image: str
    task: str
    step: str


class ImageLookupFailed(WishstarError):
    """Images whose config could not be read, each with the steps that run it and the reason."""

    def __init__(self, failures: Sequence[tuple[ImageNeed, str]]) -> None:
        self.failures = tuple(failures)
        super().__init__("\n".join(lookup_message(need, reason) for need, reason in self.failures))


def lookup_message(need: ImageNeed, reason: str) -> str:
    """The one sentence said when an image's entrypoint cannot be known."""
    return (f"cannot look up the entrypoint of image {need.image} for step {need.step} of task {need.task}: "
            f"{reason}; hint: {LOOKUP_HINT}")


ImageConfigs = Callable[[Sequence[ImageNeed]], Mapping[str, ImageConfig]]
"""The lookup hook: every need -> a config per image reference. It raises when an image cannot be looked up
(the message names the image, the step and the task); ``engine.executors.images.ImageLookup`` is the real one."""


def step_image(step: StepPlan, task: TaskPlan, default_image: str) -> str:
    """The image a step's container runs: its own, else the task's, else the run's default."""
    return step.image or task.image or default_image


def needs_image_config(step: StepPlan) -> bool:
    """A step with neither a script nor a command runs its image's entrypoint."""
    return step.script is None and not step.command


def image_needs(plan: Plan, default_image: str) -> list[ImageNeed]:
    """Every step of the plan that needs its image's config, in plan order."""
    return [ImageNeed(step_image(step, task, default_image), task.name, step.name)
            for task in plan.all_tasks() for step in task.steps if needs_image_config(step)]


def image_command(config: ImageConfig, args: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(command, args) as a container runtime would run them: ENTRYPOINT, then the step's ``args`` if it has
    any, else CMD. An image without ENTRYPOINT runs its CMD (or the step's args) as the command."""
    rest = args or config.cmd
    if config.entrypoint:
        return config.entrypoint, rest
    return rest, ()


def _filled(step: StepPlan, image: str, configs: Mapping[str, ImageConfig]) -> StepPlan:
    if not needs_image_config(step) or image not in configs:
        return step
    command, args = image_command(configs[image], step.args)
    if not command:
        return step  # neither ENTRYPOINT nor CMD: the Pod compiler says what to do
    return replace(step, command=command, args=args, image_entrypoint=True)


def _task_filled(task: TaskPlan, configs: Mapping[str, ImageConfig], default_image: str) -> TaskPlan:
    steps = tuple(_filled(s, step_image(s, task, default_image), configs) for s in task.steps)
    return task if steps == task.steps else replace(task, steps=steps)


def apply_image_configs(plan: Plan, configs: Mapping[str, ImageConfig], default_image: str) -> Plan:
    """The plan with every entrypoint-only step's command taken from its image's config (``configs``: image
    reference -> config). Steps whose image is not in ``configs`` are left as they are."""
    return replace(plan,
                   tasks={n: _task_filled(t, configs, default_image) for n, t in plan.tasks.items()},
                   finally_tasks={n: _task_filled(t, configs, default_image) for n, t in plan.finally_tasks.items()})


def with_image_configs(plan: Plan, lookup: ImageConfigs | None, default_image: str) -> Plan:
    """The plan with the image configs ``lookup`` answers filled in (nothing asked when no step needs one)."""
    needs = image_needs(plan, default_image)
    if not needs or lookup is None:
        return plan
    return apply_image_configs(plan, lookup(needs), default_image)
