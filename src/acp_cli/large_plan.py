"""The warning before a stray giant goes out: a plan of unusually many files or bytes
(``large_plan_files``, ``large_plan_bytes``) is named with its five largest files and
five largest top-level folders, and how to leave them out."""

from __future__ import annotations

import heapq
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acp_cli.settings import LARGE_PLAN_BYTES, LARGE_PLAN_FILES, env_value
from acp_cli.sizes import binary_size

SHOWN = 5


@dataclass(frozen=True)
class Limits:
    """Above either, a plan is unusually large."""

    max_files: int
    max_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        """The limits in force: ``ACP_LARGE_PLAN_FILES`` and ``ACP_LARGE_PLAN_BYTES``, else
        the defaults; a ``ConfigError`` naming the variable for a value that is not a count."""
        return cls(env_value(LARGE_PLAN_FILES, env), env_value(LARGE_PLAN_BYTES, env))


@dataclass(frozen=True)
class LargePlan:
    """What makes a plan large: its totals, its largest files and top-level folders."""

    files: int
    total_bytes: int
    largest_files: list[tuple[str, int]]
    largest_folders: list[tuple[str, int]]
    """Top-level folders by the bytes of the files under them."""


def large_plan(data: bytes, files: int, total_bytes: int, limits: Limits) -> LargePlan | None:
    """A `LargePlan` when the plan ``data`` (``files`` entries, ``total_bytes``) has more
    files or bytes than ``limits``; None otherwise (without parsing it)."""
    if files <= limits.max_files and total_bytes <= limits.max_bytes:
        return None
    import orjson  # not at start-up: only a plan built with --dir is measured

    entries: list[Mapping[str, Any]] = orjson.loads(data)["files"]
    sizes = [(entry["path"], entry["size"]) for entry in entries]
    folders: dict[str, int] = {}
    for path, size in sizes:
        top, slash, _ = path.partition("/")
        if slash:
            folders[top] = folders.get(top, 0) + size
    return LargePlan(
        files,
        total_bytes,
        _largest(sizes),
        _largest(folders.items()),
    )


def _largest(items: Any) -> list[tuple[str, int]]:
    """The ``SHOWN`` largest (name, size) pairs, largest first, ties by name."""
    return heapq.nsmallest(SHOWN, items, key=lambda item: (-item[1], item[0]))


def warning_lines(found: LargePlan, limits: Limits) -> list[str]:
    """The warning, as lines for stderr: what is large, the largest, how to leave them
    out (a pattern that matches the largest folder, or file, and nothing else)."""

    def listed(items: list[tuple[str, int]], suffix: str = "") -> str:
        return ", ".join(f"{name}{suffix} ({binary_size(size)})" for name, size in items)

    lines = [
        f"this plan is unusually large: {found.files:,} files, "
        f"{binary_size(found.total_bytes)} (more than {limits.max_files:,} files or "
        f"{binary_size(limits.max_bytes)}).",
        f"Largest files: {listed(found.largest_files)}.",
    ]
    if found.largest_folders:
        lines.append(f"Largest top-level folders: {listed(found.largest_folders, '/')}.")
        example = "/" + _escaped(found.largest_folders[0][0]) + "/"
    else:
        example = "/" + _escaped(found.largest_files[0][0])
    lines.append(
        f"To leave one out, add a line {example} to .acpignore or give "
        f"--exclude {shlex.quote(example)}; -q hides this warning."
    )
    return lines


def _escaped(name: str) -> str:
    """``name`` as a gitignore pattern that matches it literally."""
    escaped = "".join("\\" + char if char in "\\*?[" else char for char in name)
    return escaped[:-1] + "\\ " if escaped.endswith(" ") else escaped
