"""GitLab's documented webhook payloads (../shared/conformance/gitlab/) and variations of them for the tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.conformance import require_conformance

HEADERS = {"push": "Push Hook", "tag_push": "Tag Push Hook", "merge_request_opened": "Merge Request Hook",
           "note_merge_request": "Note Hook"}


def documented(name: str) -> dict[str, Any]:
    """A fresh copy of one documented payload (``push``, ``tag_push``, ``merge_request_opened``, ...)."""
    path = require_conformance() / "gitlab" / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return copy.deepcopy(data)


def push_to(branch: str, *, project_id: int = 15, after: str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            message: str = "fixed readme") -> dict[str, Any]:
    """The documented push, to another branch, with a head commit message of our choosing."""
    data = documented("push")
    data["ref"] = f"refs/heads/{branch}"
    data["after"] = data["checkout_sha"] = after
    data["project"]["id"] = data["project_id"] = project_id
    data["commits"][-1]["id"] = after
    data["commits"][-1]["message"] = message
    return data
