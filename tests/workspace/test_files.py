"""Which files a plan lists: always git's set (SPEC section 8), git being the oracle."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acp_cli.errors import UsageError
from acp_cli.workspace import SkippedPath, build_plan, early
from tests.support.git_oracle import (
    acpignore_listing,
    fresh_repository_listing,
    git,
    git_listing,
    plan_paths,
    write_tree,
)
from tests.support.rule_shapes import rule_shapes_tree

pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def test_outside_git_the_files_are_those_of_a_fresh_repository(work: Path, scratch: Path) -> None:
    rule_shapes_tree(work)

    built = build_plan(work)

    expected = fresh_repository_listing(work, scratch)
    assert plan_paths(built) == expected
    assert not built.inside_work_tree
    # The shapes that other tools get wrong, spelled out:
    assert "keep.log" not in expected  # the BOM did not hide `*.log`
    assert "pkg/node_modules/lib/index.js" in expected
    assert "node_modules/lib/index.js" not in expected
    assert {"star/a.py", "star/deeper/c.py"} <= expected
    assert not {"star/b.txt", "star/deeper/d.md"} & expected
    assert "foo/file" in expected  # `foo/**/` matches the folders below foo only
    assert "foo/bar/file" not in expected
    assert "lib/build" in expected


def test_inside_a_work_tree_the_files_are_gits_own_list(work: Path) -> None:
    rule_shapes_tree(work)
    git(work, "init", "--quiet")
    git(work, "add", ".")
    git(work, "add", "--force", "tracked-but-ignored.txt", "build/output.o")
    git(work, "commit", "--quiet", "-m", "start")
    (work / "docs" / "readme.md").unlink()  # deleted from the work tree, still tracked
    (work / ".git" / "info" / "exclude").write_text("*.local\n", encoding="utf-8")
    write_tree(work, {"untracked.txt": "", "untracked.log": "", "names/settings.local": ""})

    built = build_plan(work)

    assert built.inside_work_tree
    assert plan_paths(built) == git_listing(work)
    assert {"tracked-but-ignored.txt", "build/output.o", "untracked.txt"} <= plan_paths(built)
    assert not {"docs/readme.md", "names/settings.local", "untracked.log"} & plan_paths(built)


def test_a_subfolder_of_a_repository_is_planned_with_the_repositorys_rules(work: Path) -> None:
    rule_shapes_tree(work)
    git(work, "init", "--quiet")

    built = build_plan(work / "nested")

    expected = {
        path.removeprefix("nested/") for path in git_listing(work) if path.startswith("nested/")
    }
    assert plan_paths(built) == expected == git_listing(work / "nested")
    assert "keep.txt" in expected
    assert "inner/b.txt" not in expected


def test_the_users_global_excludes_file_applies(work: Path, tmp_path: Path) -> None:
    excludes = tmp_path / "home" / "global-ignore"
    excludes.write_text("*.secret\n", encoding="utf-8")
    git(work, "config", "--global", "core.excludesFile", str(excludes))
    write_tree(work, {"a.secret": "", "b.txt": "", "sub/c.secret": ""})

    assert plan_paths(build_plan(work)) == {"b.txt"}


def test_ignore_files_above_dir_do_not_count_outside_git(work: Path) -> None:
    write_tree(work, {".gitignore": "*.txt\n", "inner/a.txt": "", "inner/b.md": ""})

    assert plan_paths(build_plan(work / "inner")) == {"a.txt", "b.md"}


def test_acpignore_rules_are_evaluated_like_a_second_set_of_gitignore_files(
    work: Path, scratch: Path
) -> None:
    rule_shapes_tree(work)
    write_tree(
        work,
        {
            ".acpignore": "*.md\n/names/\n!docs/readme.md\n",
            "star/.acpignore": "*.py\n!deeper/c.py\n",
            "nested/.acpignore": "inner/\n",
        },
    )

    built = build_plan(work)

    expected = fresh_repository_listing(work, scratch) & acpignore_listing(work, scratch)
    assert plan_paths(built) == expected
    assert "docs/readme.md" in expected  # .acpignore negation within its own rules
    assert "star/deeper/c.py" in expected
    assert "star/a.py" not in expected


def test_a_gitignore_negation_cannot_bring_back_what_acpignore_excludes(work: Path) -> None:
    write_tree(
        work,
        {
            ".gitignore": "*.txt\n!keep.txt\n",
            ".acpignore": "keep.txt\n",
            "keep.txt": "",
            "other.md": "",
        },
    )

    assert plan_paths(build_plan(work)) == {".gitignore", ".acpignore", "other.md"}


def test_a_git_ignored_acpignore_still_applies(work: Path) -> None:
    write_tree(work, {".gitignore": ".acpignore\n", ".acpignore": "b\n", "a": "", "b": ""})

    assert plan_paths(build_plan(work)) == {".gitignore", "a"}


def test_an_acpignore_negation_cannot_bring_back_what_gitignore_excludes(work: Path) -> None:
    write_tree(work, {".gitignore": "*.log\n", ".acpignore": "!*.log\n", "a.log": "", "b": ""})

    assert plan_paths(build_plan(work)) == {".gitignore", ".acpignore", "b"}


def test_exclude_patterns_are_gitignore_patterns_relative_to_dir(work: Path) -> None:
    git(work, "init", "--quiet")
    write_tree(
        work,
        {
            "inner/a.txt": "",
            "inner/b.md": "",
            "inner/sub/a.txt": "",
            "inner/sub/c.md": "",
            "inner/build/x": "",
            "inner/.acpignore": "!*.md\n",  # cannot bring back what --exclude leaves out
        },
    )

    built = build_plan(work / "inner", excludes=["/a.txt", "*.md", "build/"])

    assert plan_paths(built) == {"sub/a.txt", ".acpignore"}


def test_excluded_special_files_and_nested_repositories_are_not_reported(work: Path) -> None:
    write_tree(work, {"a": "", "inner/b": "", ".acpignore": "inner/\n"})
    git(work / "inner", "init", "--quiet")
    os.mkfifo(work / "pipe")

    built = build_plan(work, excludes=["pipe"])

    assert plan_paths(built) == {"a", ".acpignore"}
    assert built.skipped == ()


@pytest.mark.parametrize("inside_git", [False, True])
@pytest.mark.parametrize("specials_first", [True, False])  # the folders list them in turn
def test_special_files_gitignore_ignores_are_not_reported(
    work: Path, inside_git: bool, specials_first: bool
) -> None:
    def make_specials() -> None:
        for name in ("p.tmp", "sub/q.tmp", "sub/kept", "z.tmp"):
            os.mkfifo(work / name)

    (work / "sub").mkdir()
    if specials_first:
        make_specials()
    write_tree(work, {".gitignore": "*.tmp\n", "a": "1", "sub/b": "2"})
    if not specials_first:
        make_specials()
    if inside_git:
        git(work, "init", "--quiet")

    built = build_plan(work)

    assert plan_paths(built) == {".gitignore", "a", "sub/b"}
    assert built.skipped == (SkippedPath("sub/kept", "a FIFO"),)


@pytest.mark.parametrize("inside_git", [False, True])
def test_special_files_are_found_in_every_folder_that_holds_a_listed_path(
    work: Path, inside_git: bool
) -> None:
    """DIR itself even when git lists nothing at all, and folders deep down (and those
    between) when git lists a file there."""
    os.mkfifo(work / "top.pipe")
    if inside_git:
        git(work, "init", "--quiet")
    assert build_plan(work).skipped == (SkippedPath("top.pipe", "a FIFO"),)

    write_tree(work, {"a/b/c/file": "1"})
    for name in ("a/pipe", "a/b/pipe", "a/b/c/pipe"):
        os.mkfifo(work / name)

    built = build_plan(work)

    assert plan_paths(built) == {"a/b/c/file"}
    assert sorted(built.skipped, key=str) == [
        SkippedPath(name, "a FIFO") for name in ("a/b/c/pipe", "a/b/pipe", "a/pipe", "top.pipe")
    ]


@pytest.mark.parametrize("gone", ["deleted", "a symlink now"])
def test_a_folder_gone_since_git_listed_it_leaves_the_others_scanned(work: Path, gone: str) -> None:
    write_tree(work, {"a/b/f": "1", "c/g": "2"})
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "files")
    os.mkfifo(work / "c" / "pipe")
    if gone == "deleted":
        shutil.rmtree(work / "a")
    else:
        (work / "a").rename(work / "moved")
        (work / "a").symlink_to("moved")

    built = build_plan(work)

    assert plan_paths(built) == git_listing(work)
    assert built.skipped == (SkippedPath("c/pipe", "a FIFO"),)


@pytest.mark.parametrize("symlinks_first", [True, False])  # the folder lists them in turn
def test_a_symlink_beside_a_special_file_does_not_hide_it(work: Path, symlinks_first: bool) -> None:
    links = [f"l{index}" for index in range(8)]  # some before the FIFO in any order

    def make_symlinks() -> None:
        for name in links:
            (work / name).symlink_to("a")

    write_tree(work, {"a": "1"})
    if symlinks_first:
        make_symlinks()
    os.mkfifo(work / "pipe")
    if not symlinks_first:
        make_symlinks()

    built = build_plan(work)

    assert plan_paths(built) == {"a", *links}
    assert built.skipped == (SkippedPath("pipe", "a FIFO"),)


def test_special_files_the_repositorys_own_rules_ignore_are_not_reported(work: Path) -> None:
    """DIR below the top of a work tree: its special files are checked against all of the
    repository's rules, a .gitignore above DIR and .git/info/exclude too."""
    write_tree(work, {".gitignore": "*.sock\n", "sub/a": "1"})
    git(work, "init", "--quiet")
    (work / ".git" / "info" / "exclude").write_text("*.tmp\n", encoding="utf-8")
    specials = ["sub/kept", "sub/p.tmp", "sub/q.sock"]
    for name in specials:
        os.mkfifo(work / name)
    ignored = git(work, "check-ignore", *specials).decode().split()

    built = build_plan(work / "sub")

    assert ignored == ["sub/p.tmp", "sub/q.sock"]
    assert plan_paths(built) == {"a"}
    assert built.skipped == (SkippedPath("kept", "a FIFO"),)


NAMES = ["a", "b.py", "c.txt", "d", "node_modules", "build"]
PATTERNS = [
    "*",
    "!*/",
    "!*.py",
    "*.txt",
    "!c.txt",
    "a",
    "/a",
    "a/",
    "!a",
    "d/**",
    "d/**/",
    "**/b.py",
    "!**/node_modules/**",
    "/node_modules",
    "node_modules/",
    "build",
    "!build/",
    "a/**/c.txt",
    "?.py",
    "[ab]*",
    "\\!x",
    "#c.txt",
    "",
]

trees = st.sets(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join),
    min_size=1,
    max_size=12,
)
ignore_files = st.dictionaries(
    st.sampled_from(["", "a/", "d/", "node_modules/", "a/d/"]),
    st.tuples(
        st.sampled_from([".gitignore", ".acpignore"]),
        st.lists(st.sampled_from(PATTERNS), max_size=5),
    ),
    max_size=4,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths=trees, rules=ignore_files, bom=st.booleans())
def test_random_trees_and_rules_give_gits_set(
    paths: set[str], rules: dict[str, tuple[str, list[str]]], bom: bool
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary) / "work"
        scratch = Path(temporary) / "scratch"
        work.mkdir()
        scratch.mkdir()
        files: dict[str, str] = {}
        for path in sorted(paths, key=len, reverse=True):
            # A path that is a folder of another cannot also be a file.
            if not any(other.startswith(path + "/") for other in files):
                files[path] = path
        for folder, (name, patterns) in rules.items():
            if not any(path.startswith(folder) for path in files) or (folder + name) in files:
                continue
            if any(path == folder.rstrip("/") for path in files):
                continue
            text = "\n".join(patterns) + "\n"
            files[folder + name] = ("\ufeff" if bom else "") + text
        write_tree(work, files)

        built = build_plan(work, cache=False)

        expected = fresh_repository_listing(work, scratch) & acpignore_listing(work, scratch)
        assert plan_paths(built) == expected


@pytest.mark.parametrize("pattern", ["a\nb", "a\rb", "a\0b", "\n"])
@pytest.mark.parametrize("entries", [True, False])
def test_an_exclude_pattern_with_a_line_break_is_refused(
    work: Path, pattern: str, entries: bool
) -> None:
    if entries:
        write_tree(work, {"a": "", "b": ""})

    with pytest.raises(UsageError) as refused:
        build_plan(work, excludes=["*.log", pattern])

    assert refused.value.message == (
        f"The exclude pattern {pattern!r} holds a line break, which a gitignore pattern cannot."
    )
    assert refused.value.hint == "Give one pattern per --exclude option."


def test_the_users_git_template_does_not_reach_the_scratch_repository(
    work: Path, tmp_path: Path
) -> None:
    # Outside git the files are those of a fresh repository with no info/exclude,
    # whatever init.templateDir would put in one.
    template = tmp_path / "template"
    write_tree(template, {"info/exclude": "secret.txt\n"})
    git(work, "config", "--global", "init.templateDir", str(template))
    write_tree(work, {"a": "", "secret.txt": ""})

    assert plan_paths(build_plan(work)) == {"a", "secret.txt"}
    assert plan_paths(build_plan(work, excludes=["a"])) == {"secret.txt"}


@pytest.mark.parametrize("inside_git", [True, False])
def test_the_git_started_early_for_dir_is_the_one_listing_uses(
    work: Path, monkeypatch: pytest.MonkeyPatch, inside_git: bool
) -> None:
    # The console script starts git while Python imports (early.start); build_plan
    # takes those processes rather than starting its own, and ends none unused.
    write_tree(work, {"a": "", "b/c": ""})
    if inside_git:  # with an index, for git diff-files to read
        git(work, "init", "--quiet")
        git(work, "add", "a")
    ended: list[object] = []
    end = early.end

    def spy_end(process: subprocess.Popen[bytes]) -> None:
        ended.append(process)
        end(process)

    monkeypatch.setattr(early, "end", spy_end)
    early.start(["push", "plan", str(work)], os.environ)
    try:
        # In a git work tree, git's witness of which tracked files changed too.
        expected = {early.LOCATE, early.LIST, *([early.DIFF] if inside_git else [])}
        assert set(early._started) == expected
        built = build_plan(work)
        assert early._started == {}
    finally:
        early.discard()

    assert plan_paths(built) == {"a", "b/c"}
    # Outside git the early listing is not the fresh repository's: it alone is ended.
    assert len(ended) == (0 if inside_git else 1)
