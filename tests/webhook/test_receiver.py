"""POST /hooks/gitlab on the real server, fed GitLab's documented payloads and headers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.webhook.conftest import Live, gitlab_headers
from tests.webhook.payloads import HEADERS, documented, push_to
from wishstar.engine.store.server import Events


def _post(live: Live, event: str | None, payload: Any, **headers: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return live.client.post("/hooks/gitlab", content=body, headers=gitlab_headers(event, **headers))


def _raw_exchange(live: Live, request: bytes, then: Callable[[socket.socket], None] | None = None) -> bytes:
    """Send raw bytes, optionally more, and read the response without ever finishing the body."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(request)
        if then is not None:
            then(sock)
        return sock.recv(65536)


@pytest.fixture
def diaspora(live: Live) -> Live:
    live.add_project(15, "mike/diaspora")
    return live


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_documented_deliveries_are_stored_before_the_answer(live: Live, name: str) -> None:
    payload = documented(name)
    gitlab_id = payload.get("project", {}).get("id")
    live.add_project(gitlab_id, payload["project"]["path_with_namespace"])
    if name == "note_merge_request":
        payload["object_attributes"]["note"] = "/wishstar retry"
    response = _post(live, HEADERS[name], payload)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    stored = Events(live.store).get(response.json()["event"])
    assert stored.status == "pending"
    assert stored.header == HEADERS[name]
    assert stored.payload == payload


def test_accepted_push_is_pending_with_its_kind_and_project(diaspora: Live) -> None:
    response = _post(diaspora, "Push Hook", documented("push"))
    assert response.status_code == 202
    stored = Events(diaspora.store).get(response.json()["event"])
    assert (stored.kind, stored.status, stored.reason) == ("push", "pending", None)
    assert stored.project_id is not None


@pytest.mark.parametrize("token", [None, "", "wrong-secret", "hook-secret-for-test"],
                         ids=["missing", "empty", "wrong", "prefix"])
def test_wrong_or_missing_token_gets_401_and_stores_nothing(diaspora: Live, token: str | None) -> None:
    response = _post(diaspora, "Push Hook", documented("push"), token=token)
    assert response.status_code == 401
    assert "detail" in response.json()
    assert Events(diaspora.store).count() == 0


def test_unknown_project_gets_401_and_stores_nothing(diaspora: Live) -> None:
    response = _post(diaspora, "Push Hook", push_to("main", project_id=999))
    assert response.status_code == 401
    assert Events(diaspora.store).count() == 0


def test_project_is_found_by_path_when_the_instance_header_differs(diaspora: Live) -> None:
    response = _post(diaspora, "Push Hook", documented("push"), instance="https://gitlab.internal")
    assert response.status_code == 202


def test_declared_oversize_body_gets_413_before_it_is_sent(start_server: Callable[..., Live]) -> None:
    live = start_server()  # the default limit, GitLab's 25 MB
    live.add_project(15, "mike/diaspora")
    size = 26 * 1024 * 1024
    head = (f"POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Push Hook\r\n"
            f"X-Gitlab-Token: hook-secret-for-tests\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    answer = _raw_exchange(live, head + b'{"object_kind": "push", ')  # 26 MB promised, 24 bytes sent
    assert answer.startswith(b"HTTP/1.1 413")
    assert Events(live.store).count() == 0


def test_streamed_oversize_body_gets_413_after_at_most_the_limit_and_a_chunk(
        start_server: Callable[..., Live]) -> None:
    live = start_server(max_body_bytes=64 * 1024)
    live.add_project(15, "mike/diaspora")
    head = (b"POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Push Hook\r\n"
            b"X-Gitlab-Token: hook-secret-for-tests\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 16 * 1024

    def send_past_the_limit(sock: socket.socket) -> None:
        for _ in range(6):  # 96 KiB, and the body is never terminated: the server must not wait for its end
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    answer = _raw_exchange(live, head, send_past_the_limit)
    assert answer.startswith(b"HTTP/1.1 413")
    assert Events(live.store).count() == 0


def test_body_just_under_the_limit_is_read(start_server: Callable[..., Live]) -> None:
    live = start_server(max_body_bytes=64 * 1024)
    live.add_project(15, "mike/diaspora")
    payload = documented("push")
    payload["padding"] = "x" * (60 * 1024)
    assert _post(live, "Push Hook", payload).status_code == 202


@pytest.mark.parametrize("body", [b'{"object_kind": "push",', b"\xff\xfe{}", b""], ids=["truncated", "utf16", "empty"])
def test_malformed_json_gets_400_with_a_message(diaspora: Live, body: bytes) -> None:
    response = _post(diaspora, "Push Hook", body)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert "Traceback" not in response.text
    assert Events(diaspora.store).count() == 0


def test_redelivery_with_the_same_idempotency_key_is_one_event(diaspora: Live) -> None:
    key = str(uuid.uuid4())
    first = _post(diaspora, "Push Hook", documented("push"), idempotency_key=key)
    again = _post(diaspora, "Push Hook", documented("push"), idempotency_key=key)  # a new Event-UUID
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"status": "duplicate", "event": first.json()["event"], "duplicate": True}
    assert Events(diaspora.store).count() == 1


def test_without_idempotency_key_the_same_body_twice_is_one_event(diaspora: Live) -> None:
    first = _post(diaspora, "Push Hook", documented("push"))
    again = _post(diaspora, "Push Hook", documented("push"))
    assert again.json()["event"] == first.json()["event"]
    assert again.json()["duplicate"] is True
    assert Events(diaspora.store).count() == 1


def test_deliveries_sharing_an_event_uuid_are_not_merged(diaspora: Live) -> None:
    """Recursive webhooks share X-Gitlab-Event-UUID: it is not a delivery id."""
    shared = str(uuid.uuid4())
    _post(diaspora, "Push Hook", push_to("main"), event_uuid=shared)
    _post(diaspora, "Push Hook", push_to("other"), event_uuid=shared)
    assert Events(diaspora.store).count() == 2


def test_unhandled_event_kind_gets_2xx_ignored_and_is_recorded(diaspora: Live) -> None:
    payload = {"object_kind": "issue", "project": {"id": 15, "path_with_namespace": "mike/diaspora"}}
    response = _post(diaspora, "Issue Hook", payload)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert response.json()["reason"] == "unsupported event Issue Hook"
    assert Events(diaspora.store).get(response.json()["event"]).status == "ignored"


def test_branch_deletion_gets_2xx_skipped_with_the_reason_recorded(diaspora: Live) -> None:
    payload = documented("push")
    payload["after"] = "0" * 40
    response = _post(diaspora, "Push Hook", payload)
    assert response.status_code == 200
    assert response.json()["status"] == "skipped"
    stored = Events(diaspora.store).get(response.json()["event"])
    assert (stored.status, stored.reason) == ("skipped", "branch deleted")


def test_hostile_branch_name_is_stored_as_data_and_creates_nothing(diaspora: Live) -> None:
    branch = "a$(touch${IFS}/tmp/pwned)"
    existed = os.path.exists("/tmp/pwned")
    response = _post(diaspora, "Push Hook", push_to(branch))
    assert response.status_code == 202
    stored = Events(diaspora.store).get(response.json()["event"])
    assert stored.payload["ref"] == f"refs/heads/{branch}"
    assert diaspora.store.list_runs() == []
    assert os.path.exists("/tmp/pwned") == existed


def test_fifty_concurrent_senders_all_get_2xx_and_fifty_events_are_stored(diaspora: Live) -> None:
    def send(i: int) -> int:
        with httpx.Client(base_url=diaspora.url, timeout=30) as client:
            body = json.dumps(push_to(f"branch-{i}")).encode()
            return client.post("/hooks/gitlab", content=body, headers=gitlab_headers("Push Hook")).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(send, range(50)))
    assert codes == [202] * 50
    assert Events(diaspora.store).count() == 50
