"""`acp push plan --explain`: each path in the plan or the rule that leaves it out, with
`git check-ignore -v` as the oracle on every rule shape the plan tests use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acp_cli.workspace import build_plan
from acp_cli.workspace.explain import explain
from tests.support.cli_runner import run_acp
from tests.support.git_oracle import (
    ACPIGNORE,
    GITIGNORE,
    acpignore_repository,
    git,
    git_listing,
    write_tree,
)
from tests.support.rule_shapes import RULE_SHAPES, rule_shapes_tree
from tests.support.unprivileged import run_acp_unprivileged

pytestmark = pytest.mark.usefixtures("isolated_git")

ACP_RULES = {
    ".acpignore": "*.csv\n!report1.csv\nsecrets/\n",
    "nested/.acpignore": "keep.txt\n",
    "secrets/token": "",
}


def check_ignore(repo: Path, query: str) -> str | None:
    """What `git check-ignore -v --no-index` run by hand in ``repo`` names as the rule
    that ignores ``query``; None when nothing (or a negation) matches last."""
    done = subprocess.run(
        ["git", "check-ignore", "-v", "--no-index", query],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    if done.returncode == 1:
        return None
    rule = done.stdout.decode().partition("\t")[0]
    return None if rule.split(":", 2)[2].startswith("!") else rule


def oracle(repo: Path, path: str) -> str | None:
    """The verdict git gives for ``path`` left out: a folder above it that a rule
    leaves out (outermost first), else the rule that ignores the path itself."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        rule = check_ignore(repo, folder)
        if rule is not None:
            return f"left out, inside the folder {folder}/ that {rule} leaves out"
    rule = check_ignore(repo, path)
    return None if rule is None else f"left out by {rule}"


@pytest.mark.parametrize("inside_git", [False, True])
def test_every_rule_shape_is_explained_as_git_check_ignore_says(
    work: Path, tmp_path: Path, inside_git: bool
) -> None:
    rule_shapes_tree(work)
    if inside_git:
        git(work, "init", "-q")
        git(work, "add", "-f", "tracked-but-ignored.txt")
    paths = sorted(name for name in RULE_SHAPES if name != GITIGNORE)
    built = build_plan(work)
    verdicts = {item.path: item.verdict for item in explain(work, paths, built)}

    copy = tmp_path / "oracle"
    shutil.copytree(work, copy, symlinks=True)
    if not inside_git:
        git(copy, "init", "-q")
    listed = git_listing(copy)
    for path in paths:
        if path in listed:
            assert verdicts[path].startswith("in the plan ("), path
        else:
            assert verdicts[path] == oracle(copy, path), path
    assert ("tracked-but-ignored.txt" in listed) == inside_git


def test_acpignore_and_exclude_rules_are_named_as_git_names_them(
    work: Path, tmp_path: Path
) -> None:
    rule_shapes_tree(work)
    write_tree(work, ACP_RULES)
    excludes = ["/docs/", "*.py", "!src/cache.py"]
    paths = sorted(name for name in {**RULE_SHAPES, **ACP_RULES} if name != GITIGNORE)
    built = build_plan(work, excludes=excludes)
    verdicts = {item.path: item.verdict for item in explain(work, paths, built, excludes=excludes)}

    gitignored = tmp_path / "git-rules"
    shutil.copytree(work, gitignored, symlinks=True)
    git(gitignored, "init", "-q")
    acp_rules = acpignore_repository(work, tmp_path)  # .acpignore rules on their own
    # --exclude patterns on their own: the only .gitignore, at the top.
    excluded = tmp_path / "exclude-rules"
    shutil.copytree(work, excluded, symlinks=True)
    for rules in excluded.rglob(GITIGNORE):
        rules.write_bytes(b"")
    (excluded / GITIGNORE).write_text("".join(f"{pattern}\n" for pattern in excludes))
    git(excluded, "init", "-q")

    named = {"git": 0, "acpignore": 0, "exclude": 0}
    for path in paths:
        if verdicts[path].startswith("in the plan"):
            assert oracle(gitignored, path) is None, path
            continue
        expected = oracle(gitignored, path)
        kind = "git"
        if expected is None:
            expected = oracle(acp_rules, path)
            if expected is not None:
                expected = expected.replace(GITIGNORE, ACPIGNORE)
                kind = "acpignore"
        if expected is None:
            rule = oracle(excluded, path)
            assert rule is not None, (path, verdicts[path])
            line = int(re.search(r"\.gitignore:(\d+):", rule).group(1))  # type: ignore[union-attr]
            pattern = excludes[line - 1]
            expected = rule.replace(f"{GITIGNORE}:{line}:{pattern}", f"--exclude {pattern}")
            kind = "exclude"
        assert verdicts[path] == expected, path
        named[kind] += 1
    assert all(named.values()), named  # each kind of rule was met


def test_global_and_repository_excludes_are_named_by_their_file(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(work, {"mine.swp": "", "local.tmp": "", "kept.txt": ""})
    git(work, "init", "-q")
    (work / ".git" / "info").mkdir(exist_ok=True)
    (work / ".git" / "info" / "exclude").write_text("# local\n*.tmp\n")
    global_file = tmp_path / "global-ignore"
    global_file.write_text("*.swp\n")
    git(work, "config", "core.excludesFile", str(global_file))
    run = run_acp("push", "plan", str(work), "--explain", "mine.swp", "--explain", "local.tmp")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"mine.swp: left out by {global_file}:1:*.swp",
        "local.tmp: left out by .git/info/exclude:2:*.tmp",
    ]


def test_skipped_missing_and_outside_paths_say_why(work: Path) -> None:
    write_tree(work, {"real/f": "x", "vendor/lib/z": "", "sub/deep/y": "yy", "top.txt": "t"})
    git(work, "init", "-q")
    os.mkfifo(work / "pipe")
    (work / "linked").symlink_to("real")
    git(work / "vendor" / "lib", "init", "-q")
    asked = ["pipe", "vendor/lib", "vendor/lib/z", "linked/f", "linked", "nope", "../top.txt"]
    asked += ["sub", str(work / "sub" / "deep" / "y"), "./top.txt", ".", ".git/config"]
    run = run_acp("push", "plan", str(work), *(f"--explain={path}" for path in asked))
    assert run.code == 0, run.stderr
    assert run.stderr == ""  # no plan, no warnings: the lines say it
    assert run.stdout.splitlines() == [
        "pipe: skipped, a FIFO",
        "vendor/lib: skipped, a nested git repository",
        "vendor/lib/z: skipped, inside vendor/lib, a nested git repository",
        "linked/f: skipped, under the symlink linked (never followed)",
        "linked: in the plan (4 bytes, 120000)",
        "nope: does not exist",
        f"../top.txt: not in the workspace folder {work.resolve()}",
        "sub: a folder; the plan lists 1 file in it",
        f"{work / 'sub' / 'deep' / 'y'}: in the plan (2 bytes, 100644)",
        "./top.txt: in the plan (1 byte, 100644)",
        ".: the workspace folder itself",
        ".git/config: left out: a plan never holds .git folders or what is in them",
    ]


def test_a_name_that_is_not_utf8_is_explained_by_the_rule_that_leaves_it_out(
    work: Path,
) -> None:
    write_tree(work, {".gitignore": "*.bin\n", "ok.txt": ""})
    name = os.fsdecode(b"caf\xe9.bin")
    (work / name).write_bytes(b"x")
    run = run_acp("push", "plan", str(work), "--explain", name)
    assert run.code == 0, run.stderr
    assert run.stdout == "caf\\xe9.bin: left out by .gitignore:1:*.bin\n"


def test_explain_with_an_output_file_is_exit_2_and_writes_nothing(work: Path) -> None:
    write_tree(work, {"a": ""})
    run = run_acp("push", "plan", str(work), "--explain", "a", "-o", str(work / "plan.json"))
    assert run.code == 2
    assert "-o has nothing to write" in run.stderr
    assert not (work / "plan.json").exists()


def test_an_unreadable_acpignore_is_exit_2_naming_it(work: Path) -> None:
    write_tree(work, {"a": "", ".acpignore": "a\n"})
    (work / ".acpignore").chmod(0)
    # In a process that meets file modes as any user does, root included (CI).
    run = run_acp_unprivileged("push", "plan", str(work), "--explain", "a")
    assert (run.code, run.stdout) == (2, "")
    ignore_file = work / ".acpignore"
    assert run.stderr == (
        f"Error: git cannot read the ignore file {ignore_file}: Permission denied; the "
        "files its rules leave out would be planned.\n"
        f"  Make {ignore_file} readable, or remove it if its rules are not needed.\n"
    )
