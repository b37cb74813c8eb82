"""`acp_cli.plan_diff.diff_plans`: every kind of change on hand-made plans, and the
plans it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from acp_cli import diff_plans
from acp_cli.errors import UsageError
from acp_cli.plan_diff import PathChange, PlanDiff, Status

SHA_A = "a" * 64
SHA_B = "b" * 64


def entry(path: str, size: int = 1, sha256: str = SHA_A, **more: Any) -> dict[str, Any]:
    return {"path": path, "size": size, "sha256": sha256, "mode": "100644", **more}


def plan(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "files": list(entries)}


def test_the_same_plan_is_no_change() -> None:
    files = [entry("a"), entry("b/c", 5)]
    diff = diff_plans(plan(*files), plan(*reversed(files)))
    assert diff == PlanDiff(changes=(), unchanged=2, old_bytes=6, new_bytes=6)
    assert diff.same


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (entry("f", sha256=SHA_A), entry("f", sha256=SHA_B)),
        (entry("f", size=1), entry("f", size=2)),
        (entry("f"), {**entry("f"), "mode": "100755"}),
        (
            entry("l", mode="120000", target="v1"),
            entry("l", mode="120000", target="v2"),
        ),
        (entry("f"), entry("f", owner="someone")),  # a field another writer added
        (entry("f", extra=[1, {"x": True}]), entry("f", extra=[1, {"x": 1}])),  # true is not 1
        (entry("f", extra={"k": None}), entry("f", extra={})),
    ],
)
def test_any_field_that_differs_makes_the_path_modified(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    diff = diff_plans(plan(before), plan(after))
    assert diff.paths(Status.MODIFIED) == [before["path"]]
    assert diff.unchanged == 0


def test_fields_are_compared_as_json_values_not_as_written() -> None:
    before = entry("f", extra={"a": 1, "b": [1.0, "x"]})
    after: dict[str, Any] = {
        "extra": {"b": [1, "x"], "a": 1.0},
        "mode": "100644",
        "sha256": SHA_A,
        "path": "f",
    }
    after["size"] = 1
    assert diff_plans(plan(before), plan(after)).same


def test_added_modified_and_deleted_sorted_by_utf8_bytes_with_sizes() -> None:
    old = plan(entry("z", 10), entry("é", 3), entry("b", 100), entry("keep", 7))
    new = plan(entry("keep", 7), entry("a", 4), entry("\U0001f600", 1), entry("é", 5, SHA_B))
    diff = diff_plans(old, new)
    paths = [change.path for change in diff.changes]
    assert paths == sorted(paths, key=lambda path: path.encode("utf-8"))
    assert diff.changes == (
        PathChange(Status.ADDED, "a", None, 4),
        PathChange(Status.DELETED, "b", 100, None),
        PathChange(Status.DELETED, "z", 10, None),
        PathChange(Status.MODIFIED, "é", 3, 5),
        PathChange(Status.ADDED, "\U0001f600", None, 1),
    )
    assert [change.size_change for change in diff.changes] == [4, -100, -10, 2, 1]
    assert diff.counts() == {Status.ADDED: 2, Status.MODIFIED: 1, Status.DELETED: 2}
    assert diff.as_json() == {
        "added": ["a", "\U0001f600"],
        "modified": ["é"],
        "deleted": ["b", "z"],
        "unchanged": 1,
        "oldBytes": 120,
        "newBytes": 17,
        "changeBytes": -103,
    }


def test_an_entry_without_an_integer_size_counts_as_zero_bytes() -> None:
    old = plan({"path": "x", "size": "12"}, {"path": "y"})
    diff = diff_plans(old, plan(entry("x", 12)))
    assert diff.changes == (
        PathChange(Status.MODIFIED, "x", None, 12),
        PathChange(Status.DELETED, "y", None, None),
    )
    assert (diff.old_bytes, diff.new_bytes) == (0, 12)


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"version": 1}, "the old plan is not a push plan: it has no files array"),
        ({"files": {"path": "a"}}, "the old plan is not a push plan"),
        ({"files": [entry("a"), "b"]}, "the old plan: files[1] is not an entry with a string path"),
        ({"files": [{"path": 3}]}, "files[0] is not an entry with a string path"),
        ({"files": [entry("a"), entry("b"), entry("a", 2)]}, "lists the path 'a' twice (files[2])"),
    ],
)
def test_what_cannot_be_compared_path_by_path_is_refused(bad: dict[str, Any], said: str) -> None:
    with pytest.raises(UsageError) as caught:
        diff_plans(bad, plan(entry("a")))
    assert said in caught.value.message
    assert caught.value.hint


def test_the_new_plan_is_named_when_it_is_the_bad_one() -> None:
    with pytest.raises(UsageError, match="the new plan lists the path 'a' twice"):
        diff_plans(plan(), plan(entry("a"), entry("a")))
