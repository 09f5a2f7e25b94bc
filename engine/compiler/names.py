"""The Kubernetes names a user types (``--namespace``, ``WISHSTAR_NAMESPACE``), checked before anything is built.

Why it exists: a namespace the API server would refuse should be a bad input reported with the other problems of
the command (a ``Problem`` naming the option and a fix), not an exception from deep inside the manifest code after
a run was recorded. ``engine.compiler.pods`` keeps its own check as a last line of defence.

What it must not do: touch the outside world (no client, no environment): callers pass the value and say where it
came from.
"""

from __future__ import annotations

import re

from wishstar.engine.spec.errors import Problem, ValidationFailed

MAX_NAMESPACE = 63
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NOT_DNS = re.compile(r"[^a-z0-9]+")


def namespace_message(namespace: str) -> str | None:
    """What is wrong with ``namespace`` as a Kubernetes namespace name (a DNS-1123 label), or None."""
    if len(namespace) > MAX_NAMESPACE:
        return f'"{namespace[:20]}..." is {len(namespace)} characters; a namespace has at most {MAX_NAMESPACE}'
    if not _DNS_LABEL.fullmatch(namespace):
        return (f'"{namespace}" is not a valid Kubernetes namespace name: lowercase letters, digits and "-", '
                "starting and ending with a letter or digit")
    return None


def namespace_hint(namespace: str) -> str | None:
    """A valid name close to ``namespace`` (``Bad_NS`` -> ``did you mean "bad-ns"?``), or None."""
    fixed = _NOT_DNS.sub("-", namespace.lower()).strip("-")
    return f'did you mean "{fixed}"?' if fixed and fixed != namespace and len(fixed) <= MAX_NAMESPACE else None


def namespace_problems(namespace: str, *, where: str = "command line", option: str = "--namespace") -> list[Problem]:
    """``[]`` for a valid namespace, else one ``Problem`` naming ``option`` (``where`` stands in for a file)."""
    message = namespace_message(namespace)
    if message is None:
        return []
    return [Problem(where, None, option, message, namespace_hint(namespace))]


def check_namespace(namespace: str, *, where: str = "command line", option: str = "--namespace") -> None:
    """Raise ``ValidationFailed`` (the CLI prints it like a pipeline file's problems) for a bad namespace."""
    problems = namespace_problems(namespace, where=where, option=option)
    if problems:
        raise ValidationFailed(problems)
