"""API errors the user acts on: a refused verb names the verb, resource and namespace; quota and 410 are told
apart from RBAC."""

from __future__ import annotations

import json

import pytest

from wishstar.engine.executors.kubernetes.client import error_for, verb_and_resource
from wishstar.engine.executors.kubernetes.errors import Gone, KubernetesError, PermissionDenied, QuotaExceeded
from wishstar.engine.spec.errors import WishstarError


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("POST", "/api/v1/namespaces/ci/pods", (), ("create", "pods", "ci")),
    ("GET", "/api/v1/namespaces/ci/pods", (), ("list", "pods", "ci")),
    ("GET", "/api/v1/namespaces/ci/pods", (("watch", "1"),), ("watch", "pods", "ci")),
    ("GET", "/api/v1/namespaces/ci/pods/p", (), ("get", "pods", "ci")),
    ("GET", "/api/v1/namespaces/ci/pods/p/log", (("follow", "true"),), ("get", "pods/log", "ci")),
    ("DELETE", "/api/v1/namespaces/ci/configmaps/o", (), ("delete", "configmaps", "ci")),
    ("PATCH", "/api/v1/namespaces/ci/secrets/s", (), ("patch", "secrets", "ci")),
    ("GET", "/api/v1/namespaces/ci/events", (("watch", "1"),), ("watch", "events", "ci")),
], ids=["create", "list", "watch", "get", "log", "delete", "patch", "events"])
def test_requests_map_to_rbac_verbs_and_resources(method: str, path: str, query: tuple[tuple[str, str], ...],
                                                  expected: tuple[str, str, str]) -> None:
    assert verb_and_resource(method, path, query) == expected


def body(message: str, reason: str = "Forbidden") -> bytes:
    return json.dumps({"kind": "Status", "message": message, "reason": reason}).encode()


def test_a_forbidden_verb_becomes_a_permission_error_naming_verb_resource_and_role_doc() -> None:
    server = 'pods "x" is forbidden: User "system:serviceaccount:ci:wishstar" cannot delete resource "pods"'
    error = error_for(403, body(server), "DELETE", "/api/v1/namespaces/ci/pods/x")
    assert isinstance(error, PermissionDenied) and isinstance(error, WishstarError)
    assert (error.verb, error.resource, error.namespace) == ("delete", "pods", "ci")
    text = str(error)
    assert 'the verb "delete" on "pods"' in text and 'namespace "ci"' in text and "docs/rbac.md" in text
    assert server in text


def test_an_exhausted_quota_is_not_mistaken_for_rbac() -> None:
    message = 'pods "x" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10'
    error = error_for(403, body(message), "POST", "/api/v1/namespaces/ci/pods")
    assert isinstance(error, QuotaExceeded) and not isinstance(error, PermissionDenied)


def test_gone_and_other_statuses_keep_the_server_message() -> None:
    assert isinstance(error_for(410, body("too old resource version", "Expired"), "GET", "/api/v1/x"), Gone)
    other = error_for(422, body("Pod is invalid", "Invalid"), "POST", "/api/v1/namespaces/ci/pods")
    assert type(other) is KubernetesError and other.status == 422 and "Pod is invalid" in str(other)
    plain = error_for(500, b"oops", "GET", "/api/v1/namespaces/ci/pods")
    assert "oops" in str(plain)
