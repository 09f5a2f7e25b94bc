"""A stand-in GitLab for tests: a real HTTP server (FastAPI under uvicorn, loopback, its own thread).

GitLab itself cannot run here, so this plays the part of GitLab's REST API (``/api/v4``) as GitLab documents
it, for the calls Wishstar makes:

- ``POST /projects/:id/statuses/:sha`` (https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit):
  states ``pending``, ``running``, ``success``, ``failed``, ``canceled``; ``name`` (or ``context``),
  ``target_url``, ``description``, ``ref``; 201 with the status. GitLab keeps one active (pending or
  running) status per name and commit and moves it through a state machine; posting the state it is already
  in (or going back from running to pending) answers 400 ``{"message": "Cannot transition status via :run
  from :running (Reason(s): Status cannot transition via \"run\")"}``. A finished status is followed by a new
  one.
- ``GET /projects/:id`` (id or URL-encoded path): ``id``, ``path_with_namespace``, ``http_url_to_repo``.
- ``POST /projects/:id/hooks`` (``url``, ``token``, ``push_events``, ``tag_push_events``,
  ``merge_requests_events``, ``note_events``, ``enable_ssl_verification``...), ``GET /projects/:id/hooks``,
  ``DELETE /projects/:id/hooks/:hook_id`` (https://docs.gitlab.com/api/project_webhooks/). The hook's token
  is write-only, as in GitLab.
- ``POST /projects/:id/merge_requests/:iid/notes`` and ``PUT .../notes/:note_id``
  (https://docs.gitlab.com/api/notes/#merge-requests).
- Every endpoint answers 401 ``{"message": "401 Unauthorized"}`` without the right ``PRIVATE-TOKEN``.

It records every call (method, path, JSON body, headers without the token) and can misbehave: ``fail(n)``
answers the next n calls with 500 (``fail_route`` only those to one endpoint), ``hang()`` holds calls until
``release()`` (or ``hang_limit_s``) so that a client times out. Fixture: ``gitlab`` (a running stand-in per
test, with project 42 ``group/app``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

TOKEN = "glpat-standin-0123456789abcdef"
_EVENTS = {"pending": "enqueue", "running": "run", "success": "success", "failed": "drop", "canceled": "cancel"}
_ALLOWED = {"pending": {"run", "success", "drop", "cancel"}, "running": {"success", "drop", "cancel"}}


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class StandIn:
    """The stand-in's state; tests read and steer it from their own thread."""

    url: str = ""
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    """Every status GitLab accepted (201), in arrival order."""
    notes: dict[tuple[int, int], dict[int, str]] = field(default_factory=dict)
    failures_left: int = 0
    failing_routes: dict[tuple[str, str], int] = field(default_factory=dict)
    hanging: bool = False
    hang_limit_s: float = 30.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 100
    _active: dict[tuple[int, str, str], str] = field(default_factory=dict)

    def add_project(self, gitlab_id: int, path: str) -> dict[str, Any]:
        project = {"id": gitlab_id, "path_with_namespace": path, "name": path.rsplit("/", 1)[-1],
                   "http_url_to_repo": f"{self.url}/{path}.git", "web_url": f"{self.url}/{path}"}
        self.projects[gitlab_id] = project
        return project

    def project(self, ref: str) -> dict[str, Any] | None:
        """A project by id or by path, as GitLab's ``:id`` accepts either."""
        if ref.isdigit():
            return self.projects.get(int(ref))
        return next((p for p in self.projects.values() if p["path_with_namespace"] == ref), None)

    def fail(self, times: int) -> None:
        with self.lock:
            self.failures_left = times

    def fail_route(self, method: str, fragment: str, times: int = 1) -> None:
        """Answer the next ``times`` calls whose path contains ``fragment`` with 500."""
        with self.lock:
            self.failing_routes[(method, fragment)] = times

    def hang(self) -> None:
        self.hanging = True

    def release(self) -> None:
        self.hanging = False

    def states(self, sha: str, name: str | None = None) -> list[str]:
        """The accepted states for one commit (and status name), in the order GitLab accepted them."""
        return [s["status"] for s in self.statuses if s["sha"] == sha and (name is None or s["name"] == name)]

    def calls_to(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    # -- GitLab's rules --------------------------------------------------------------------------------

    def post_status(self, project_id: int, sha: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        state = body.get("state")
        if state not in _EVENTS:
            return 400, {"message": "state does not have a valid value"}
        name = str(body.get("name") or body.get("context") or "default")
        key = (project_id, sha, name)
        with self.lock:
            current = self._active.get(key)
            event = _EVENTS[state]
            if current is not None and event not in _ALLOWED[current]:
                return 400, {"message": f"Cannot transition status via :{event} from :{current} "
                                        f'(Reason(s): Status cannot transition via "{event}")'}
            if state in _ALLOWED:
                self._active[key] = state
            else:
                self._active.pop(key, None)
            self._next_id += 1
            status = {"id": self._next_id, "sha": sha, "ref": body.get("ref"), "status": state, "name": name,
                      "target_url": body.get("target_url"), "description": body.get("description"),
                      "project_id": project_id}
            self.statuses.append(status)
        return 201, status


def create_app(gl: StandIn) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record_and_misbehave(request: Request, call_next: Any) -> Response:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode(errors="replace")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "private-token"}
        call = Call(request.method, request.url.path, body, headers)
        gl.calls.append(call)
        response = await _misbehave(gl, call) or await _authorise(gl, request) or await call_next(request)
        call.status = response.status_code
        return response

    _routes(app, gl)
    return app


async def _misbehave(gl: StandIn, call: Call) -> Response | None:
    started = time.monotonic()
    while gl.hanging and time.monotonic() - started < gl.hang_limit_s:
        await asyncio.sleep(0.02)
    with gl.lock:
        route = next((k for k, n in gl.failing_routes.items() if n > 0 and k[0] == call.method
                      and k[1] in call.path), None)
        if route is not None:
            gl.failing_routes[route] -= 1
        elif gl.failures_left > 0:
            gl.failures_left -= 1
        else:
            return None
    return JSONResponse({"message": "500 Internal Server Error"}, status_code=500)


async def _authorise(gl: StandIn, request: Request) -> Response | None:
    if request.headers.get("private-token") != gl.token:
        return JSONResponse({"message": "401 Unauthorized"}, status_code=401)
    return None


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"message": f"404 {what} Not Found"}, status_code=404)


def _routes(app: FastAPI, gl: StandIn) -> None:
    _status_routes(app, gl)
    _hook_routes(app, gl)
    _note_routes(app, gl)

    @app.get("/api/v4/projects/{ref:path}")
    async def get_project(ref: str) -> JSONResponse:
        found = gl.project(ref)
        return JSONResponse(found) if found else _not_found("Project")


def _status_routes(app: FastAPI, gl: StandIn) -> None:
    project = gl.project

    @app.post("/api/v4/projects/{pid}/statuses/{sha}")
    async def post_status(pid: str, sha: str, request: Request) -> JSONResponse:
        found = project(pid)
        if found is None:
            return _not_found("Project")
        code, body = gl.post_status(found["id"], sha, await request.json())
        return JSONResponse(body, status_code=code)


def _hook_routes(app: FastAPI, gl: StandIn) -> None:
    project = gl.project

    @app.post("/api/v4/projects/{pid}/hooks")
    async def create_hook(pid: str, request: Request) -> JSONResponse:
        found = project(pid)
        if found is None:
            return _not_found("Project")
        data = await request.json()
        if not data.get("url"):
            return JSONResponse({"error": "url is missing"}, status_code=400)
        hook = {"id": gl.new_id(), "project_id": found["id"], "url": data["url"], "token": data.get("token"),
                "push_events": bool(data.get("push_events", True)),
                "tag_push_events": bool(data.get("tag_push_events", False)),
                "merge_requests_events": bool(data.get("merge_requests_events", False)),
                "note_events": bool(data.get("note_events", False)),
                "issues_events": bool(data.get("issues_events", False)),
                "enable_ssl_verification": bool(data.get("enable_ssl_verification", True))}
        gl.hooks.setdefault(found["id"], []).append(hook)
        return JSONResponse(_public_hook(hook), status_code=201)

    @app.get("/api/v4/projects/{pid}/hooks")
    async def list_hooks(pid: str) -> JSONResponse:
        found = project(pid)
        if found is None:
            return _not_found("Project")
        return JSONResponse([_public_hook(h) for h in gl.hooks.get(found["id"], [])])

    @app.delete("/api/v4/projects/{pid}/hooks/{hook_id}")
    async def delete_hook(pid: str, hook_id: int) -> Response:
        found = project(pid)
        hooks = gl.hooks.get(found["id"], []) if found else []
        if not any(h["id"] == hook_id for h in hooks):
            return _not_found("Hook")
        hooks[:] = [h for h in hooks if h["id"] != hook_id]
        return Response(status_code=204)


def _note_routes(app: FastAPI, gl: StandIn) -> None:
    project = gl.project

    @app.post("/api/v4/projects/{pid}/merge_requests/{iid}/notes")
    async def create_note(pid: str, iid: int, request: Request) -> JSONResponse:
        found = project(pid)
        if found is None:
            return _not_found("Project")
        body = (await request.json()).get("body")
        note_id = gl.new_id()
        gl.notes.setdefault((found["id"], iid), {})[note_id] = body
        return JSONResponse({"id": note_id, "body": body, "noteable_iid": iid}, status_code=201)

    @app.put("/api/v4/projects/{pid}/merge_requests/{iid}/notes/{note_id}")
    async def update_note(pid: str, iid: int, note_id: int, request: Request) -> JSONResponse:
        found = project(pid)
        notes = gl.notes.get((found["id"], iid), {}) if found else {}
        if note_id not in notes:
            return _not_found("Note")
        notes[note_id] = (await request.json()).get("body")
        return JSONResponse({"id": note_id, "body": notes[note_id], "noteable_iid": iid})


def _public_hook(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k != "token"}


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


def start(gl: StandIn) -> tuple[_Server, threading.Thread]:
    """Serve ``gl`` on a free loopback port; returns once the server accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    gl.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _Server(uvicorn.Config(create_app(gl), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the GitLab stand-in did not start")
        time.sleep(0.01)
    return server, thread


@pytest.fixture
def gitlab() -> Iterator[StandIn]:
    """A running stand-in GitLab with one project (id 42, ``group/app``)."""
    gl = StandIn()
    server, thread = start(gl)
    gl.add_project(42, "group/app")
    try:
        yield gl
    finally:
        gl.release()
        server.should_exit = True
        thread.join(timeout=10)
