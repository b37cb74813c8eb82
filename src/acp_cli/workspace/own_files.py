"""acp's own files, which a plan never lists (SPEC section 8, "Trust"): the file the
plan or the command's output is written to, the temporary files ``write_atomic``
writes beside it, the cache folder and the scratch repositories, each when it is
inside the workspace folder. Without this, planning a folder twice would differ
whenever acp writes into it (``acp push plan -o plan.json``, ``ACP_CACHE_DIR=.cache``).

Each is a rule on the sorted listed paths: a prefix, found by bisection (no pass
over every path), and a test of the rest of the name.
"""

from __future__ import annotations

import bisect
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from acp_cli.files import temporary_affixes
from acp_cli.workspace import cache as hash_cache
from acp_cli.workspace.listing import SCRATCH_PREFIX, escape


def leave_out_own_files(
    names: list[bytes], folder: Path, env: Mapping[str, str], outputs: Mapping[Path | str, str]
) -> list[tuple[str, str]]:
    """Remove acp's own files from ``names`` (sorted paths relative to ``folder``,
    resolved): those of the cache and scratch folders and each of ``outputs`` (a path
    mapped to why it is acp's). Returns what was removed, as (a name or pattern, why),
    for a note."""
    return _leave_out(names, _own_files(folder, env, outputs))


@dataclass(frozen=True)
class _OwnFiles:
    """Listed paths that are acp's own: those that start with ``prefix`` and whose
    rest satisfies ``rest``; shown as ``shown`` in the note."""

    prefix: bytes
    rest: Callable[[bytes], bool]
    shown: str
    reason: str


def _own_files(
    folder: Path, env: Mapping[str, str], outputs: Mapping[Path | str, str]
) -> list[_OwnFiles]:
    """What of acp's own may be inside ``folder`` (resolved): the cache folder, the
    scratch repositories, and each of ``outputs`` with its temporary files."""
    rules: list[_OwnFiles] = []

    def add(under: str, start: str, end: str, rest: Callable[[bytes], bool], why: str) -> None:
        """Names in the folder ``under`` that start with ``start``, shown as a pattern."""
        relative = _relative(folder, under)
        if relative is not None:
            prefix = relative + b"/" if relative else b""
            shown = escape(prefix) + (f"{start}*{end}" if start else "")
            rules.append(_OwnFiles(prefix + os.fsencode(start), rest, shown, why))

    plans = hash_cache.cache_file(folder, env).parent
    add(os.path.realpath(plans), "", "/", _any, "acp's cache folder")
    tmp = os.path.realpath(tempfile.gettempdir())
    add(tmp, SCRATCH_PREFIX, "/", _in_a_folder, "acp's temporary git repositories")
    for output, reason in outputs.items():
        named = os.path.abspath(output)
        named = os.path.join(os.path.realpath(os.path.dirname(named)), os.path.basename(named))
        written = os.path.realpath(named)  # write_atomic writes through a symlink
        for path in dict.fromkeys((named, written)):
            relative = _relative(folder, path)
            if relative:
                rules.append(_OwnFiles(relative, _nothing, escape(relative), reason))
        start, end = temporary_affixes(os.path.basename(written))

        def temporary(rest: bytes, end: bytes = end.encode()) -> bool:
            return rest.endswith(end) and b"/" not in rest

        add(os.path.dirname(written), start, end, temporary, "acp's temporary files")
    return rules


def _any(rest: bytes) -> bool:
    return True


def _nothing(rest: bytes) -> bool:
    return not rest


def _in_a_folder(rest: bytes) -> bool:
    return b"/" in rest


def _relative(folder: Path, path: str) -> bytes | None:
    """``path`` (absolute, resolved) relative to ``folder``, ``/``-separated: ``b""``
    for ``folder`` itself, None when it is not inside ``folder``."""
    relative = os.path.relpath(path, folder)
    if relative == os.curdir:
        return b""
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return os.fsencode(Path(relative).as_posix())


def _leave_out(names: list[bytes], rules: Sequence[_OwnFiles]) -> list[tuple[str, str]]:
    """Remove from ``names`` (sorted) the paths that ``rules`` match; the rules that
    matched one, for the note."""
    dropped: set[int] = set()
    matched: list[tuple[str, str]] = []
    for rule in rules:
        hits = len(dropped)
        index = bisect.bisect_left(names, rule.prefix)
        while index < len(names) and names[index].startswith(rule.prefix):
            if rule.rest(names[index][len(rule.prefix) :]):
                dropped.add(index)
            index += 1
        if len(dropped) > hits:
            matched.append((rule.shown, rule.reason))
    if dropped:
        names[:] = [name for index, name in enumerate(names) if index not in dropped]
    return matched
