"""Errors of the Kubernetes executor that a user must be able to act on without reading a stack trace.

Why a module of its own: a 403 from the API server means either RBAC (the engine's Role lacks a verb) or an
admission rule such as a ResourceQuota, and the two need different fixes; the message must name the verb,
the resource and the namespace, and point at docs/rbac.md. It must not hold or print credentials.
"""

from __future__ import annotations

from wishstar.engine.spec.errors import WishstarError

RBAC_DOC = "docs/rbac.md"


class KubernetesError(WishstarError):
    """The API server refused or failed a request; ``status`` is the HTTP status (0 when none came back)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class PermissionDenied(KubernetesError):
    """RBAC: the engine's identity may not do ``verb`` on ``resource`` in ``namespace``."""

    def __init__(self, verb: str, resource: str, namespace: str, detail: str) -> None:
        where = f' in namespace "{namespace}"' if namespace else ""
        super().__init__(
            f'Kubernetes refused to let the engine "{verb}" {resource}{where}: the Role bound to its '
            f"identity needs the verb \"{verb}\" on \"{resource}\" (see {RBAC_DOC}). Server said: {detail}",
            status=403, reason="Forbidden")
        self.verb = verb
        self.resource = resource
        self.namespace = namespace


class QuotaExceeded(KubernetesError):
    """Admission refused an object because a ResourceQuota is used up; the task waits and tries again."""


class Gone(KubernetesError):
    """410: the resourceVersion a watch asked for is too old; the informer lists again."""


class Detached(KubernetesError):
    """Ends an attempt that this engine gave up while its Pod keeps running (for the run's next owner)."""
