"""``diff_plans``: what changed between two plans, path by path.

A plan is compared entry by entry, keyed by ``path``: a path is *added* or
*deleted* when only one plan lists it, and *modified* when any field of its
entry differs (``sha256``, ``size``, ``mode``, ``target``, or any field another
writer put there). Fields are compared as JSON values, as the plan signature
sees them: ``1`` and ``1.0`` are the same number, ``true`` is not ``1``, key
order does not count.

Plans come in as the strict reader (`acp_cli.strict_json.parse_object`) returns them;
`plan_entries` refuses what cannot be compared path by path (no ``files`` array,
an entry without a string ``path``, one path listed twice) with a ``UsageError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from typing import Any, NoReturn

import orjson

from acp_cli.errors import UsageError
from acp_cli.signature import canonical_json

_PLAN_HINT = 'A plan holds {"files": [{"path": ..., ...}, ...]}, as `acp push plan` writes it.'


class Status(StrEnum):
    """What happened to a path, as git's ``--name-status`` letter."""

    ADDED = "A"
    MODIFIED = "M"
    DELETED = "D"


@dataclass(frozen=True)
class PathChange:
    """One path that differs between the plans."""

    status: Status
    path: str
    old_size: int | None
    """The ``size`` of the old entry; None when it was added or has no integer size."""
    new_size: int | None
    """The ``size`` of the new entry; None when it was deleted or has no integer size."""

    @property
    def size_change(self) -> int:
        """The new size less the old one (an absent size counts as 0)."""
        return (self.new_size or 0) - (self.old_size or 0)


@dataclass(frozen=True)
class PlanDiff:
    """The difference between two plans; ``changes`` sorted by the UTF-8 bytes of ``path``."""

    changes: tuple[PathChange, ...]
    unchanged: int
    """How many paths both plans list with equal entries."""
    old_bytes: int
    """The sum of the old plan's sizes."""
    new_bytes: int
    """The sum of the new plan's sizes."""

    @property
    def same(self) -> bool:
        """Whether the plans list the same paths with the same entries."""
        return not self.changes

    def paths(self, status: Status) -> list[str]:
        """The paths with ``status``, sorted."""
        return [change.path for change in self.changes if change.status is status]

    def counts(self) -> dict[Status, int]:
        """How many paths were added, modified and deleted."""
        counts = dict.fromkeys(Status, 0)
        for change in self.changes:
            counts[change.status] += 1
        return counts

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document: the sorted paths of each kind, the count of the
        rest, and the byte totals of both plans."""
        return {
            "added": self.paths(Status.ADDED),
            "modified": self.paths(Status.MODIFIED),
            "deleted": self.paths(Status.DELETED),
            "unchanged": self.unchanged,
            "oldBytes": self.old_bytes,
            "newBytes": self.new_bytes,
            "changeBytes": self.new_bytes - self.old_bytes,
        }


@dataclass(frozen=True)
class PlanEntries:
    """A plan's entries by path, with what comparing them needs to know."""

    by_path: dict[str, dict[str, Any]]
    total_bytes: int
    """The sum of the entries' integer sizes (an entry without one counts as 0)."""
    booleans: bool
    """Whether a ``true`` or ``false`` may be in an entry (or spelled in a path): only
    then can entries that Python finds equal (``True == 1``) differ as JSON."""


def plan_entries(plan: Mapping[str, Any], source: str) -> PlanEntries:
    """The entries of ``plan`` by path; ``source`` names the plan in messages.

    Raises ``UsageError`` for a plan without a ``files`` array, an entry that is not
    an object with a string ``path``, and a path listed twice.
    """
    files = plan.get("files")
    if not isinstance(files, list):
        raise UsageError(f"{source} is not a push plan: it has no files array.", hint=_PLAN_HINT)
    try:
        # At C speed for a good plan; `_refuse` finds what is wrong with a bad one.
        by_path = {entry["path"]: entry for entry in files}
    except (TypeError, KeyError):  # an entry that is not an object, or has no path
        _refuse(files, source)
    if len(by_path) != len(files) or set(map(type, by_path)) - {str}:
        _refuse(files, source)
    try:
        text = orjson.dumps(files)
        booleans = b"true" in text or b"false" in text
    except orjson.JSONEncodeError:  # nesting beyond orjson's 254 levels: look closer
        booleans = True
    return PlanEntries(by_path, _total(files, booleans), booleans)


def _total(files: list[dict[str, Any]], booleans: bool) -> int:
    """The sum of the integer sizes of ``files``."""
    if not booleans:
        try:
            total = sum(map(itemgetter("size"), files))
        except (KeyError, TypeError):  # an entry without a size, or a string one
            pass
        else:
            if type(total) is int:  # else a float size was among them
                return total
    return sum(size for entry in files if type(size := entry.get("size")) is int)


def _refuse(files: list[Any], source: str) -> NoReturn:
    """Raise the ``UsageError`` for the first entry of ``files`` that has no string
    path, or repeats an earlier entry's path."""
    seen: set[str] = set()
    for index, entry in enumerate(files):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            raise UsageError(
                f"{source}: files[{index}] is not an entry with a string path.", hint=_PLAN_HINT
            )
        if path in seen:
            raise UsageError(
                f"{source} lists the path {path!r} twice (files[{index}]).",
                hint="A plan lists each path once; write it again with `acp push plan`.",
            )
        seen.add(path)
    raise AssertionError("_refuse called for a plan it finds nothing wrong with")


def diff_plans(old: Mapping[str, Any], new: Mapping[str, Any]) -> PlanDiff:
    """What changed from the plan ``old`` to the plan ``new`` (both as parsed from JSON).

    Raises ``UsageError`` when either is not a plan that can be compared path by path
    (see `plan_entries`).
    """
    return diff_entries(plan_entries(old, "the old plan"), plan_entries(new, "the new plan"))


def diff_entries(old_plan: PlanEntries, new_plan: PlanEntries) -> PlanDiff:
    """`diff_plans` on the entries of two plans (`plan_entries`).

    The work per path is done at C speed (set operations, dict comparison); only
    the changed paths, few in a typical diff, cost Python code.
    """
    old, new = old_plan.by_path, new_plan.by_path
    # Walked in the plans' own order, not a set's: plans list paths in nearly the
    # same order, so both dicts are read nearly sequentially (twice as fast).
    modified = [path for path, entry in old.items() if entry != new.get(path, entry)]
    if old_plan.booleans or new_plan.booleans:
        # Python finds True equal to 1 and 1.0; JSON does not.
        modified += [
            path
            for path, entry in old.items()
            if entry == new.get(path) and not _same_json(entry, new[path])
        ]
    added = [path for path in new if path not in old]
    deleted = [path for path in old if path not in new]
    changes = [
        *(PathChange(Status.ADDED, path, None, _size(new[path])) for path in added),
        *(PathChange(Status.DELETED, path, _size(old[path]), None) for path in deleted),
        *(
            PathChange(Status.MODIFIED, path, _size(old[path]), _size(new[path]))
            for path in modified
        ),
    ]
    # Code point order is UTF-8 byte order: str's own order is the plans' order.
    changes.sort(key=lambda change: change.path)
    return PlanDiff(
        changes=tuple(changes),
        unchanged=len(old) - len(deleted) - len(modified),
        old_bytes=old_plan.total_bytes,
        new_bytes=new_plan.total_bytes,
    )


def _same_json(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether two entries that Python finds equal are the same JSON value, as the
    plan signature sees them (``1`` and ``1.0`` are; ``true`` and ``1`` are not)."""
    return canonical_json(before) == canonical_json(after)


def _size(entry: Mapping[str, Any]) -> int | None:
    size = entry.get("size")
    return size if type(size) is int else None
