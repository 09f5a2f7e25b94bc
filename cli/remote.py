"""The CLI against a remote server: ``wishstar runs list|show|cancel``, ``wishstar logs`` and ``wishstar
deployments`` with ``--server URL``.

Why: people inspect and cancel runs from their own machine, through the same HTTP API (``/api/runs``) that
tools use, with the token in ``WISHSTAR_TOKEN`` (an environment variable, never an option: command lines are
visible to other users and land in shell histories). Every refusal and failure becomes one line naming the
server and what to do; the token never appears in a message. Must not read the local store.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from wishstar.cli.common import UserError

TOKEN_VARIABLE = "WISHSTAR_TOKEN"
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Remote:
    """A client for one server's API."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise UserError(f"--server {url}: give the server's base URL, e.g. https://ci.example.com")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=_TIMEOUT)

    @classmethod
    def connect(cls, url: str) -> Remote:
        return cls(url, os.environ.get(TOKEN_VARIABLE) or None)

    def close(self) -> None:
        self._client.close()

    def _fail(self, response: httpx.Response) -> UserError:
        try:
            detail = str(response.json().get("detail"))
        except ValueError:
            detail = response.text[:200] or response.reason_phrase
        code = response.status_code
        if code == 401:
            return UserError(f"{self.url} refused the request (401): {detail} (hint: set {TOKEN_VARIABLE} to a "
                             "token from `wishstar tokens create`)")
        if code == 403:
            return UserError(f"{self.url} refused the request (403): {detail}")
        return UserError(f"{self.url}: {detail}" if code < 500 else f"{self.url} failed ({code}): {detail}")

    def _send(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, path, params=_clean(params))
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach {self.url}: {type(exc).__name__} {exc}") from None
        if response.status_code >= 400:
            raise self._fail(response)
        return response.json()

    def list_runs(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._send("GET", "/api/runs", filters))

    def get_run(self, ref: str) -> dict[str, Any]:
        return dict(self._send("GET", f"/api/runs/{quote(ref, safe='')}"))

    def cancel(self, ref: str) -> dict[str, Any]:
        return dict(self._send("POST", f"/api/runs/{quote(ref, safe='')}/cancel"))

    def project_deployments(self, project: str, **filters: Any) -> list[dict[str, Any]]:
        """A project's current releases (or, with ``history=True``, one release's revisions)."""
        return list(self._send("GET", f"/api/projects/{quote(project, safe='/')}/deployments", filters))

    def find_deployments(self, **filters: Any) -> list[dict[str, Any]]:
        """Where a ``digest`` is deployed; without one, the latest deployments."""
        return list(self._send("GET", "/api/deployments", filters))

    def run_deployments(self, ref: str) -> list[dict[str, Any]]:
        return list(self._send("GET", f"/api/runs/{quote(ref, safe='')}/deployments"))

    def log_chunks(self, run_id: str, task: str, attempt: int | None) -> Iterator[bytes]:
        """A task's step logs as the server streams them (bounded memory)."""
        path = f"/api/runs/{quote(run_id, safe='')}/logs/{quote(task, safe='')}"
        try:
            with self._client.stream("GET", path, params=_clean({"attempt": attempt})) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._fail(response)
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach {self.url}: {type(exc).__name__} {exc}") from None


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} if params else None


def last_lines(chunks: Iterator[bytes], count: int) -> list[str]:
    """The last ``count`` lines of a stream, holding no more than those lines."""
    kept: deque[str] = deque(maxlen=count)
    partial = b""
    for chunk in chunks:
        *complete, partial = (partial + chunk).split(b"\n")
        kept.extend(line.decode(errors="replace") for line in complete)
    if partial:
        kept.append(partial.decode(errors="replace"))
    return list(kept)
