"""``explain``: why a path is in a workspace's plan, or why it is not.

Git stays the oracle. A path left out by an ignore rule is explained by
``git check-ignore -v``, asked about each folder above the path (a rule that
leaves out a folder leaves out everything in it, whatever later rules say) and
then the path itself:

- git's own rules (``.gitignore`` files, ``.git/info/exclude``, ``core.excludesFile``)
  in the work tree around DIR, or, outside one, in the scratch repository whose
  work tree is DIR (as `acp_cli.workspace.listing` lists it);
- ``.acpignore`` files, in a *shadow* work tree: the folders on the way to each
  path, each holding its folder's ``.acpignore`` as its ``.gitignore``; the user's
  global excludes file is switched off there, so git reports the ``.acpignore``
  rule itself (evaluated on its own, as the plan evaluates it);
- ``--exclude`` patterns, the same way, as the shadow's only ``.gitignore`` at the top.

Everything else (in the plan, a special file, a nested repository, a symlinked
folder on the way, a path that does not exist or is not in DIR) comes from the plan
that was just built and from ``lstat``, never following a symlink.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from acp_cli.errors import UsageError
from acp_cli.sizes import binary_size
from acp_cli.workspace.build import BuiltPlan
from acp_cli.workspace.listing import ACPIGNORE, Git, Scratch, _no_scratch, _z, escape

_GITIGNORE = ".gitignore"


@dataclass(frozen=True)
class Explanation:
    """What the plan does with one path, in a few words."""

    path: str
    """The path as the user gave it; bytes that are not UTF-8 as ``\\xNN``."""
    verdict: str
    """``in the plan (12 bytes, 100644)``, ``left out by .gitignore:2:*.log``, ..."""

    def __str__(self) -> str:
        return f"{self.path}: {self.verdict}"


def explain(
    root: Path,
    paths: Sequence[str],
    built: BuiltPlan,
    *,
    excludes: Sequence[str] = (),
    env: Mapping[str, str] = os.environ,
) -> list[Explanation]:
    """Explain each of ``paths`` (relative to the workspace folder ``root``) against the
    plan ``built`` of ``root``, built with ``excludes``.

    Raises ``UsageError`` when git fails or an ``.acpignore`` cannot be read.
    """
    folder = root.resolve()
    entries: dict[str, dict[str, Any]] = {
        entry["path"]: entry for entry in orjson.loads(built.data)["files"]
    }
    skipped = {item.path: item.reason for item in built.skipped}
    names = [_relative(folder, path) for path in paths]
    existing = [name for name in names if name is not None and _exists(folder, name)]
    git = Git(folder, env)
    queries = _queries(existing)
    with Scratch(git) as scratch:
        ignored = _rules_of_git(git, scratch, built.inside_work_tree, queries)
    acp_rules = _shadow_rules(folder, env, existing, queries, excludes)
    result = []
    for given, name in zip(paths, names, strict=True):
        verdict = _verdict(folder, name, entries, skipped, ignored, acp_rules)
        result.append(Explanation(escape(os.fsencode(given)), verdict))
    return result


def _verdict(
    folder: Path,
    name: bytes | None,
    entries: Mapping[str, Mapping[str, Any]],
    skipped: Mapping[str, str],
    ignored: Mapping[bytes, str],
    acp_rules: Mapping[bytes, str],
) -> str:
    if name is None:
        return f"not in the workspace folder {folder}"
    if name == b"":
        return "the workspace folder itself"
    on_the_way = _symlink_on_the_way(folder, name)
    if on_the_way is not None:
        return f"skipped, under the symlink {escape(on_the_way)} (never followed)"
    try:
        info = os.lstat(os.path.join(os.fsencode(folder), name))
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        raise UsageError(f"Cannot read {escape(name)}: {exc.strerror or exc}.") from None
    if b".git" in name.split(b"/"):
        return "left out: a plan never holds .git folders or what is in them"
    text = name.decode("utf-8", "surrogateescape")
    entry = entries.get(text)
    if entry is not None:
        return f"in the plan ({_size(entry.get('size'))}, {entry.get('mode')})"
    for candidate in (*_ancestors(name), name):
        reason = skipped.get(candidate.decode("utf-8", "surrogateescape"))
        if reason is not None:
            inside = "" if candidate == name else f"inside {escape(candidate)}, "
            return f"skipped, {inside}{reason}"
    for rules in (ignored, acp_rules):
        for folder_name in _ancestors(name):
            rule = rules.get(folder_name)
            if rule is not None:
                shown = escape(folder_name)
                return f"left out, inside the folder {shown}/ that {rule} leaves out"
        rule = rules.get(name)
        if rule is not None:
            return f"left out by {rule}"
    if stat.S_ISDIR(info.st_mode):
        prefix = text + "/"
        count = sum(1 for path in entries if path.startswith(prefix))
        return f"a folder; the plan lists {count:,} file{'' if count == 1 else 's'} in it"
    return "not in the plan, and no rule names it (acp's own files are left out)"


def _relative(folder: Path, given: str) -> bytes | None:
    """``given`` as a ``/``-separated path relative to ``folder`` (``b""`` for the folder
    itself), or None when it is outside it."""
    raw = os.fsencode(given)
    if os.path.isabs(raw):
        absolute = os.path.normpath(raw)
        top = os.fsencode(folder)
        if absolute == top:
            return b""
        if not absolute.startswith(top.rstrip(b"/") + b"/"):
            return None
        raw = absolute[len(top.rstrip(b"/")) + 1 :]
    relative = os.path.normpath(raw)
    if relative == b".":
        return b""
    if relative == b".." or relative.startswith(b"../"):
        return None
    return relative


def _exists(folder: Path, name: bytes) -> bool:
    return (
        name != b""
        and _symlink_on_the_way(folder, name) is None
        and os.path.lexists(os.path.join(os.fsencode(folder), name))
    )


def _symlink_on_the_way(folder: Path, name: bytes) -> bytes | None:
    """The first folder above ``name`` that is a symlink, if any."""
    top = os.fsencode(folder)
    for above in _ancestors(name):
        try:
            if stat.S_ISLNK(os.lstat(os.path.join(top, above)).st_mode):
                return above
        except OSError:
            return None
    return None


def _ancestors(name: bytes) -> list[bytes]:
    """The folders above ``name``, outermost first: ``a``, ``a/b`` for ``a/b/c``."""
    parts = name.split(b"/")[:-1]
    return [b"/".join(parts[: index + 1]) for index in range(len(parts))]


def _queries(names: Sequence[bytes]) -> list[bytes]:
    """What to ask git about: each folder above each path, then the path. Without a
    trailing ``/``: git finds folders by lstat, as its own walk does (``foo/**/``
    matches ``foo/`` as typed, but never the folder ``foo``)."""
    queries: dict[bytes, None] = {}
    for name in names:
        for above in _ancestors(name):
            queries[above] = None
        queries[name] = None
    return list(queries)


def _rules_of_git(
    git: Git, scratch: Scratch, inside: bool, queries: Sequence[bytes]
) -> dict[bytes, str]:
    """The rule of git's own that ignores each query, as ``source:line:pattern``."""
    if not queries:
        return {}
    base = () if inside else scratch.args()
    found = _check_ignore(git, base, queries)
    return {query: _shown(rule) for query, rule in found.items()}


Rule = tuple[str, int, str]
"""An ignore rule as git names it: source file, line number, pattern."""


def _check_ignore(git: Git, base: tuple[str, ...], queries: Sequence[bytes]) -> dict[bytes, Rule]:
    """``git check-ignore -v`` on ``queries``: the rule that ignores each ignored one,
    keyed by the query as asked (a negation that matches last ignores nothing)."""
    args = ("check-ignore", "--no-index", "--verbose", "--non-matching", "-z", "--stdin")
    process = git.start(*base, *args, stdin=True)
    # 1: nothing ignored; any other failure, or a warning, is git's refusal
    out = git.finish(process, _z(queries), allowed=(0, 1))
    fields = out.split(b"\0")
    rules: dict[bytes, Rule] = {}
    for index in range(0, len(fields) - 3, 4):
        source, line, pattern, path = fields[index : index + 4]
        if source and not pattern.startswith(b"!"):
            rules[path] = (escape(source), int(line), escape(pattern))
    return rules


def _shown(rule: Rule) -> str:
    source, line, pattern = rule
    return f"{source}:{line}:{pattern}"


def _shadow_rules(
    folder: Path,
    env: Mapping[str, str],
    names: Sequence[bytes],
    queries: Sequence[bytes],
    excludes: Sequence[str],
) -> dict[bytes, str]:
    """The ``.acpignore`` rule or ``--exclude`` pattern that leaves out each query,
    the ``.acpignore`` rules first."""
    top = os.fsencode(folder)
    marker = ACPIGNORE.encode()
    rule_files = {
        above: os.path.join(top, above, marker)
        for name in names
        for above in [b"", *_ancestors(name)]
        if os.path.isfile(os.path.join(top, above, marker))
    }
    if not queries or not (rule_files or excludes):
        return {}
    try:
        temporary = tempfile.TemporaryDirectory(prefix="acp-explain-")
    except OSError as exc:
        raise _no_scratch(exc) from None
    with temporary as scratch:
        shadow = os.path.join(os.fsencode(scratch), b"tree")
        empty = os.path.join(scratch, "no-global-excludes")
        try:
            # Git tells a folder from a file by lstat: the shadow has the folders.
            for query in queries:
                real_folder = _is_folder(os.path.join(top, query))
                within = query if real_folder else query.rpartition(b"/")[0]
                os.makedirs(os.path.join(shadow, within), exist_ok=True)
            with open(empty, "wb"):
                pass
        except OSError as exc:
            raise _no_scratch(exc) from None
        git = Git(Path(os.fsdecode(shadow)), env)
        git_dir = os.path.join(scratch, "git")
        base = ("-c", f"core.excludesFile={empty}", "--git-dir", git_dir, "--work-tree", ".")
        git.run(*base, "init", "--quiet", "--template=")
        found: dict[bytes, str] = {}
        for above, path in rule_files.items():
            _write(os.path.join(shadow, above, _GITIGNORE.encode()), _read_rules(path))
        for query, (source, line, pattern) in _check_ignore(git, base, queries).items():
            found[query] = _shown((source.removesuffix(_GITIGNORE) + ACPIGNORE, line, pattern))
        for above in rule_files:
            os.unlink(os.path.join(shadow, above, _GITIGNORE.encode()))
        if excludes:
            _write(
                os.path.join(shadow, _GITIGNORE.encode()),
                "".join(f"{pattern}\n" for pattern in excludes).encode(),
            )
            for query, (_, line, _) in _check_ignore(git, base, queries).items():
                found.setdefault(query, f"--exclude {excludes[line - 1]}")
    return found


def _write(path: bytes, data: bytes) -> None:
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise _no_scratch(exc) from None


def _read_rules(path: bytes) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(
            f"Cannot read {escape(path)}: {exc.strerror or exc}.",
            hint="Fix its permissions: acp cannot tell what it leaves out.",
        ) from None


def _is_folder(path: bytes) -> bool:
    """Whether ``path`` is a folder itself (not a symlink to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _size(size: object) -> str:
    return binary_size(size) if isinstance(size, int) else "size unknown"
