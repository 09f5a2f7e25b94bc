"""classify(): GitLab's documented payloads and variations of every rule, as tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.webhook.payloads import documented, push_to
from wishstar.webhook.gitlab_events import GitEvent, Ignored, Skipped, classify, note_command

Payload = dict[str, Any]


def _deleted_branch() -> Payload:
    data = documented("push")
    data["after"] = "0" * 40
    data["checkout_sha"] = None
    data["commits"] = []
    return data


def _skip_in_head() -> Payload:
    return push_to("main", message="Tidy up [skip ci]")


def _ci_skip_upper_in_head() -> Payload:
    return push_to("main", message="Docs only\n\n[CI SKIP]")


def _skip_in_older_commit() -> Payload:
    data = push_to("main", message="real change")
    data["commits"][0]["message"] = "wip [skip ci]"
    return data


def _head_not_last() -> Payload:
    """The head commit is found by id, not by position."""
    data = push_to("main", message="older")
    data["commits"].reverse()
    data["commits"][0]["message"] = "head [ci skip]"
    return data


def _push_option_skip() -> Payload:
    data = push_to("main")
    data["push_options"] = {"ci": {"skip": True}}
    return data


def _tag_deleted() -> Payload:
    data = documented("tag_push")
    data["after"] = "0" * 40
    data["checkout_sha"] = None
    return data


def _mr(action: str, **attrs: Any) -> Callable[[], Payload]:
    def build() -> Payload:
        data = documented("merge_request_opened")
        data["object_attributes"]["action"] = action
        data["object_attributes"].update(attrs)
        return data
    return build


def _note(text: str, noteable: str = "MergeRequest", **attrs: Any) -> Callable[[], Payload]:
    def build() -> Payload:
        data = documented("note_merge_request")
        data["object_attributes"]["note"] = text
        data["object_attributes"]["noteable_type"] = noteable
        data["object_attributes"].update(attrs)
        return data
    return build


def _system_push() -> Payload:
    data = documented("push")
    data.pop("project")  # a System Hook push names the project by project_id and repository
    data["project"] = {"id": 15, "path_with_namespace": "mike/diaspora",
                       "git_http_url": "http://example.com/mike/diaspora.git"}
    return data


SKIPS = [
    ("Push Hook", _deleted_branch, "branch deleted"),
    ("Push Hook", _skip_in_head, "[skip ci] in the head commit's message"),
    ("Push Hook", _ci_skip_upper_in_head, "[CI SKIP] in the head commit's message"),
    ("Push Hook", _head_not_last, "[ci skip] in the head commit's message"),
    ("Push Hook", _push_option_skip, "push option ci.skip"),
    ("Tag Push Hook", _tag_deleted, "tag deleted"),
    ("Merge Request Hook", _mr("update"), "merge request updated without new commits"),
    ("Merge Request Hook", _mr("close"), "merge request action 'close' starts nothing"),
    ("Merge Request Hook", _mr("merge"), "merge request action 'merge' starts nothing"),
    ("Merge Request Hook", _mr("approved"), "merge request action 'approved' starts nothing"),
    ("Merge Request Hook", _mr("open", last_commit={"id": "e59094b8de0f2f91abbe4760a52d9137260252d8",
                                                    "message": "WIP [skip ci]"}),
     "[skip ci] in the head commit's message"),
]

IGNORED = [
    ("Issue Hook", lambda: {"object_kind": "issue"}, "unsupported event Issue Hook"),
    (None, lambda: documented("push"), "unsupported event (no X-Gitlab-Event header)"),
    ("Note Hook", _note("This MR needs work."), "note without a /wishstar command"),
    ("Note Hook", _note("please /wishstar run now"), "note without a /wishstar command"),
    ("Note Hook", _note("/wishstar run", noteable="Issue"), "note on Issue, not on a merge request"),
    ("Note Hook", _note("/wishstar run", system=True), "system note"),
    ("Note Hook", _note("/wishstar run", action="update"), "edited note"),
    ("System Hook", lambda: {"event_name": "user_create"}, "unsupported system event user_create"),
    ("Push Hook", lambda: [1, 2], "not a JSON object"),
    ("Push Hook", lambda: {**documented("push"), "after": "$(reboot)"}, "'after' is not a commit id"),
    ("Push Hook", lambda: {**documented("push"), "ref": "refs/tags/v1"}, "is not a branch push"),
]


@pytest.mark.parametrize(("header", "payload", "reason"), SKIPS,
                         ids=[f"{h}-{r}" for h, _, r in SKIPS])
def test_handled_events_that_start_nothing_are_skipped_with_their_reason(
        header: str, payload: Callable[[], Payload], reason: str) -> None:
    result = classify(header, payload())
    assert isinstance(result, Skipped)
    assert result.reason.startswith(reason)


@pytest.mark.parametrize(("header", "payload", "reason"), IGNORED,
                         ids=[f"{h}-{r}" for h, _, r in IGNORED])
def test_events_wishstar_does_not_handle_are_ignored_with_a_reason(
        header: str | None, payload: Callable[[], Any], reason: str) -> None:
    result = classify(header, payload())
    assert isinstance(result, Ignored)
    assert reason in result.reason


def test_documented_push_builds_the_after_commit_on_its_branch() -> None:
    event = classify("Push Hook", documented("push"))
    assert isinstance(event, GitEvent)
    assert (event.kind, event.sha, event.branch) == ("push", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "master")
    assert (event.project_gitlab_id, event.project_path) == (15, "mike/diaspora")
    assert event.clone_url == "http://example.com/mike/diaspora.git"
    assert event.before == "95790bf891e76fee5e1747ab589903a6a1f80f22"
    assert (event.message, event.author) == ("fixed readme", "GitLab dev user")


def test_documented_push_with_more_commits_than_listed_has_unknown_changed_paths() -> None:
    event = classify("Push Hook", documented("push"))  # total_commits_count 4, two commits listed
    assert isinstance(event, GitEvent)
    assert event.changed_paths is None


def test_changed_paths_are_the_union_of_added_modified_and_removed() -> None:
    data = push_to("main")
    data["total_commits_count"] = 2
    data["commits"][0]["removed"] = ["old.txt"]
    event = classify("Push Hook", data)
    assert isinstance(event, GitEvent)
    assert event.changed_paths == ("CHANGELOG", "app/controller/application.rb", "old.txt")


def test_skip_ci_in_an_older_commit_does_not_skip_the_push() -> None:
    event = classify("Push Hook", _skip_in_older_commit())
    assert isinstance(event, GitEvent)
    assert event.message == "real change"


def test_documented_tag_push_builds_checkout_sha() -> None:
    event = classify("Tag Push Hook", documented("tag_push"))
    assert isinstance(event, GitEvent)
    assert (event.kind, event.tag, event.branch) == ("tag", "v1.0.0", None)
    assert event.sha == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"


def test_tag_build_uses_checkout_sha_not_the_annotated_tag_object() -> None:
    data = documented("tag_push")
    data["after"] = "1" * 40  # an annotated tag: `after` is the tag object, checkout_sha the commit
    event = classify("Tag Push Hook", data)
    assert isinstance(event, GitEvent)
    assert event.sha == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"


def test_documented_merge_request_opened_builds_its_last_commit() -> None:
    event = classify("Merge Request Hook", documented("merge_request_opened"))
    assert isinstance(event, GitEvent)
    assert event.kind == "merge_request"
    assert event.sha == "e59094b8de0f2f91abbe4760a52d9137260252d8"
    assert (event.mr_iid, event.source_branch, event.target_branch) == (16, "feature/booking-validation", "main")
    assert event.branch == "feature/booking-validation"
    assert event.mr_title == "Add input validation to booking form"
    assert event.from_fork is False
    assert event.user == "agarcia"


@pytest.mark.parametrize("action", ["reopen", "update"])
def test_reopened_or_updated_with_new_commits_merge_requests_build(action: str) -> None:
    event = classify("Merge Request Hook", _mr(action, oldrev="95790bf891e76fee5e1747ab589903a6a1f80f22")())
    assert isinstance(event, GitEvent)


def test_merge_request_from_a_fork_is_marked_and_cloned_from_the_fork() -> None:
    data = documented("merge_request_opened")
    data["object_attributes"]["source_project_id"] = 99
    data["object_attributes"]["source"]["git_http_url"] = "http://gitlab.example.com/eve/flight-management.git"
    event = classify("Merge Request Hook", data)
    assert isinstance(event, GitEvent)
    assert event.from_fork is True
    assert event.clone_url == "http://gitlab.example.com/eve/flight-management.git"
    assert event.project_gitlab_id == 2


@pytest.mark.parametrize(("text", "command"), [
    ("/wishstar run", "run"),
    ("Looks flaky.\n/wishstar retry\nthanks", "retry"),
    ("  /wishstar   run  ", "run"),
])
def test_a_note_with_a_command_line_builds_the_merge_request_head(text: str, command: str) -> None:
    event = classify("Note Hook", _note(text)())
    assert isinstance(event, GitEvent)
    assert (event.kind, event.command, event.user) == ("note", command, "root")
    assert event.sha == "562e173be03b8ff2efb05345d12df18815438a4b"
    assert (event.mr_iid, event.project_gitlab_id) == (1, 5)


@pytest.mark.parametrize("text", ["/wishstar runs", "/wishstar", "/wishstar deploy", "`/wishstar run` maybe"])
def test_only_exact_command_lines_are_commands(text: str) -> None:
    assert note_command(text) is None


def test_system_hook_push_is_classified_like_a_push_hook() -> None:
    event = classify("System Hook", _system_push())
    assert isinstance(event, GitEvent)
    assert (event.kind, event.branch, event.project_gitlab_id) == ("push", "master", 15)


def test_system_hook_tag_push_is_classified_like_a_tag_push_hook() -> None:
    event = classify("System Hook", documented("tag_push"))
    assert isinstance(event, GitEvent)
    assert event.tag == "v1.0.0"


def test_a_hostile_branch_name_is_kept_verbatim_as_data() -> None:
    event = classify("Push Hook", push_to("a$(touch${IFS}/tmp/pwned)"))
    assert isinstance(event, GitEvent)
    assert event.branch == "a$(touch${IFS}/tmp/pwned)"


@pytest.mark.parametrize("payload", [{}, {"ref": 3, "after": None}, {"object_attributes": "x"},
                                     {"commits": "nope", "ref": "refs/heads/x", "after": "a" * 40}])
@pytest.mark.parametrize("header", ["Push Hook", "Tag Push Hook", "Merge Request Hook", "Note Hook", "System Hook"])
def test_odd_payloads_never_raise(header: str, payload: Payload) -> None:
    assert isinstance(classify(header, payload), Ignored | Skipped | GitEvent)
