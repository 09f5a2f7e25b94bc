"""The executor's only door to the API server: JSON requests as plain dicts, rate limited, errors mapped.

Why not the generated ``CoreV1Api`` methods: they turn every object into models and back (slow for hundreds
of Pods, and the pure functions of this package read dicts, as manifests are dicts), and the log endpoint's
``sinceTime`` is not among their parameters. So requests go through the official client's ``ApiClient``
(authentication, TLS, kubeconfig handling) at the level of paths and query parameters.

Every request takes a token from the ``TokenBucket`` first. Short requests run on a small thread pool of
their own; streams (watches, logs) are opened by threads that the caller owns. A 403 becomes
``PermissionDenied`` naming the verb and resource (or ``QuotaExceeded`` when admission says so), a 410
becomes ``Gone``. It must not retry on its own (callers know what is safe to repeat) nor log bodies, which
may hold secret values.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from wishstar.engine.executors.kubernetes.errors import Gone, KubernetesError, PermissionDenied, QuotaExceeded
from wishstar.engine.executors.kubernetes.ratelimit import TokenBucket

Json = dict[str, Any]
Query = Sequence[tuple[str, str]]

REQUEST_TIMEOUT = (10.0, 30.0)
"""(connect, read) seconds for ordinary requests."""

_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class Stream(Protocol):
    """An open streaming response (watch or log): read chunks until it ends, or close it from elsewhere."""

    def stream(self, amt: int) -> Any: ...

    def release_conn(self) -> None: ...

    def shutdown(self) -> None: ...


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """An authenticated ``ApiClient`` from a kubeconfig file (default: $KUBECONFIG or ~/.kube/config), or
    the in-cluster service account when no file is named and the engine runs in a Pod."""
    if kubeconfig is None and context is None:
        try:
            k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
            return k8s.ApiClient()
        except k8s_config.ConfigException:
            pass
    try:
        api: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context)
    except Exception as exc:  # the client raises ConfigException, OSError, YAMLError, ValueError...: all bad input
        source = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubernetesError(
            f"cannot use the kubeconfig {source}" + (f' with context "{context}"' if context else "") +
            f": {exc} (hint: --kubeconfig FILE and --context NAME, or WISHSTAR_KUBECONFIG for the server; "
            "`kubectl config get-contexts` lists the contexts)") from None
    return api


def current_context(kubeconfig: str | None) -> str | None:
    """The current context's name in ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config), or None when
    there is no usable file (in-cluster, or the run fails at once anyway)."""
    try:
        contexts = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return str(contexts[1]["name"])
    except (k8s_config.ConfigException, OSError, KeyError, TypeError):
        return None


def path_for(namespace: str, resource: str, name: str | None = None, sub: str | None = None) -> str:
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/{resource}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    if sub is not None:
        path += f"/{sub}"
    return path


def verb_and_resource(method: str, path: str, query: Query = ()) -> tuple[str, str, str]:
    """(verb, resource, namespace) as RBAC names them, from a request: ``GET .../pods`` is ``list pods``,
    with ``watch=1`` it is ``watch``; ``GET .../pods/x/log`` is ``get pods/log``."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    namespace, rest = "", parts
    if "namespaces" in parts:
        i = parts.index("namespaces")
        namespace, rest = (parts[i + 1] if i + 1 < len(parts) else ""), parts[i + 2:]
    resource = rest[0] if rest else "namespaces"
    if len(rest) >= 3:
        resource = f"{rest[0]}/{rest[2]}"
    verb = _VERBS.get(method.upper(), method.lower())
    if verb == "get" and len(rest) == 1:
        verb = "watch" if ("watch", "1") in query or ("watch", "true") in query else "list"
    if verb == "delete" and len(rest) == 1:
        verb = "deletecollection"
    return verb, resource, namespace


def error_for(status: int, body: bytes, method: str, path: str, query: Query = ()) -> KubernetesError:
    """The error a non-2xx response means, with the server's own message kept."""
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        doc = {}
    message = str(doc.get("message") or body[:300].decode(errors="replace") or f"HTTP {status}")
    reason = str(doc.get("reason") or "")
    if status == 403:
        if "exceeded quota" in message or "quota" in reason.lower():
            return QuotaExceeded(message, status=403, reason=reason)
        verb, resource, namespace = verb_and_resource(method, path, query)
        return PermissionDenied(verb, resource, namespace, message)
    if status == 410:
        return Gone(message, status=410, reason=reason or "Gone")
    return KubernetesError(f"{method} {path}: {status} {reason}: {message}".replace(":  :", ":"),
                           status=status, reason=reason)


class KubeClient:
    """Rate-limited JSON requests against one API server."""

    def __init__(self, api_client: k8s.ApiClient, limiter: TokenBucket | None = None, *,
                 threads: int = 16) -> None:
        self.api_client = api_client
        self.limiter = limiter or TokenBucket()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wishstar-k8s")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- blocking, for threads -------------------------------------------------------------------------

    def request_blocking(self, method: str, path: str, *, query: Query = (), body: Mapping[str, Any] | None = None,
                         content_type: str = "application/json", timeout: Any = REQUEST_TIMEOUT) -> Json:
        self.limiter.acquire_blocking()
        return self._call(method, path, query, body, content_type, timeout)

    def _call(self, method: str, path: str, query: Query, body: Mapping[str, Any] | None, content_type: str,
              timeout: Any) -> Json:
        """One request, read whole (API objects, not streams); an error status raises."""
        response = self._send(method, path, query, body, content_type, timeout)
        try:
            data = response.data
        finally:
            response.release_conn()
        if not 200 <= response.status < 300:
            raise error_for(response.status, data, method, path, query)
        return json.loads(data) if data else {}

    def open_stream(self, path: str, query: Query, *, timeout: Any) -> Stream:
        """Start a GET whose body is read as it arrives (``watch=1`` or ``follow=true``)."""
        self.limiter.acquire_blocking()
        response = self._send("GET", path, query, None, "application/json", timeout)
        if not 200 <= response.status < 300:
            data = response.data
            response.release_conn()
            raise error_for(response.status, data, "GET", path, query)
        stream: Stream = response
        return stream

    def _send(self, method: str, path: str, query: Query, body: Mapping[str, Any] | None, content_type: str,
              timeout: Any) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            params = self.api_client.param_serialize(
                method=method, resource_path=path, query_params=list(query), header_params=headers,
                body=dict(body) if body is not None else None, auth_settings=["BearerToken"])
            url, headers_out, body_out = params[1], params[2], params[3]
            response = self.api_client.call_api(method, url, header_params=headers_out, body=body_out,
                                                _request_timeout=timeout)
        except k8s.ApiException as exc:  # TLS errors and the like come back as status 0
            raise KubernetesError(f"{method} {path}: {exc.reason}", status=exc.status or 0) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubernetesError(f"{method} {path}: cannot reach the API server: {exc}") from None
        raw: urllib3.BaseHTTPResponse = response.response
        return raw

    # -- async, for the executor -----------------------------------------------------------------------

    async def request(self, method: str, path: str, *, query: Query = (), body: Mapping[str, Any] | None = None,
                      content_type: str = "application/json") -> Json:
        await self.limiter.acquire()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self._call(method, path, query, body, content_type, REQUEST_TIMEOUT))

    async def get(self, path: str, query: Query = ()) -> Json | None:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", path, query=query)
        except KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, path: str, body: Mapping[str, Any]) -> Json | None:
        """The created object, or None when one of that name already exists (409)."""
        try:
            return await self.request("POST", path, body=body)
        except KubernetesError as exc:
            if exc.status == 409 and exc.reason == "AlreadyExists":
                return None
            raise

    async def delete(self, path: str, *, grace_s: int | None = None, propagation: str = "Background") -> bool:
        """Delete; False when it was already gone."""
        options: Json = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace_s is not None:
            options["gracePeriodSeconds"] = grace_s
        try:
            await self.request("DELETE", path, body=options)
        except KubernetesError as exc:
            if exc.status == 404:
                return False
            raise
        return True
