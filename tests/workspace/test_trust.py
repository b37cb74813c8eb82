"""A plan holds only what is inside DIR, or acp refuses (SPEC section 8, "Trust"):
nothing is read through a symlinked folder, git's refusals and warnings are errors,
and every hint works when followed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acp_cli.errors import UsageError
from acp_cli.workspace import build_plan, describe, hashing
from tests.support.cli_runner import Run, run_acp
from tests.support.git_oracle import (
    fresh_repository_listing,
    git,
    git_listing,
    plan_entries,
    plan_paths,
    write_tree,
)
from tests.support.unprivileged import run_acp_unprivileged

pytestmark = pytest.mark.usefixtures("isolated_git")

CANARY = b"CANARY: this file is outside the workspace\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside DIR whose files must never reach a plan."""
    folder = tmp_path / "outside"
    write_tree(folder, {"passwd": CANARY, "sub/deep/passwd": CANARY, "only-outside": CANARY})
    return folder


def assert_no_canary(data: bytes) -> None:
    assert hashlib.sha256(CANARY).hexdigest().encode() not in data
    assert b"only-outside" not in data


def commit_all(work: Path) -> None:
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "start")


# --- 1. Nothing is read through a symlinked parent folder ------------------------------


@pytest.mark.parametrize("folder", ["conf", "a/conf", "a/b/c/conf"])
def test_a_tracked_folder_replaced_by_a_symlink_is_never_read_through(
    work: Path, outside: Path, folder: str
) -> None:
    write_tree(work, {f"{folder}/passwd": "mine", f"{folder}/sub/deep/passwd": "mine", "x": ""})
    commit_all(work)
    shutil.rmtree(work / folder)
    (work / folder).symlink_to(outside)

    built = build_plan(work)

    assert_no_canary(built.data)
    assert plan_paths(built) == git_listing(work) == {"x", folder}  # git: deleted
    [link] = [entry for entry in plan_entries(built) if entry["path"] == folder]
    assert link["mode"] == "120000"
    assert link["target"] == str(outside)
    assert built.skipped == ()


def test_a_symlinked_parent_is_not_followed_outside_git_either(work: Path, outside: Path) -> None:
    write_tree(work, {"x": ""})
    (work / "conf").symlink_to(outside)
    (work / "deeper").mkdir()
    (work / "deeper" / "conf").symlink_to(outside / "sub")

    built = build_plan(work)

    assert_no_canary(built.data)
    assert plan_paths(built) == {"x", "conf", "deeper/conf"}


@pytest.mark.parametrize("replacement", ["file", "missing"])
def test_a_tracked_folder_replaced_by_a_file_or_removed_leaves_its_files_out(
    work: Path, replacement: str
) -> None:
    write_tree(work, {"conf/a": "a", "conf/sub/b": "b", "x": ""})
    commit_all(work)
    shutil.rmtree(work / "conf")
    if replacement == "file":
        (work / "conf").write_text("now a file\n")

    built = build_plan(work)

    assert plan_paths(built) == git_listing(work)
    assert not {"conf/a", "conf/sub/b"} & plan_paths(built)


def test_the_special_file_scan_never_walks_into_a_symlinked_folder(work: Path) -> None:
    write_tree(work, {"d/full": "", "d/null": "", "d/zero": "", "x": ""})
    commit_all(work)
    shutil.rmtree(work / "d")
    (work / "d").symlink_to("/dev")

    built = build_plan(work)

    assert built.skipped == ()  # no warning about d/full, d/tty, ...
    assert plan_paths(built) == git_listing(work) == {"x", "d"}


def test_a_folder_swapped_for_a_symlink_after_listing_is_not_read_through(
    work: Path, outside: Path
) -> None:
    write_tree(work, {"conf/passwd": "mine", "conf/sub/deep/passwd": "mine", "x": ""})
    commit_all(work)

    class SwapWhenListed:
        """Progress's start comes between git's listing and the hashing: swap then."""

        def start(self, files: int) -> None:
            shutil.rmtree(work / "conf")
            (work / "conf").symlink_to(outside)

        def advance(self, files: int, hashed_bytes: int) -> None:
            pass

        def pending(self, hashed_bytes: int) -> None:
            pass

    built = build_plan(work, cache=False, progress=SwapWhenListed())

    assert (work / "conf").is_symlink()  # the swap happened before any file was read
    assert_no_canary(built.data)
    assert "x" in plan_paths(built)
    assert not [path for path in plan_paths(built) if path.startswith("conf/")]


@pytest.mark.parametrize("depth", ["conf", "a/conf", "a/b/c/conf"])
def test_a_big_file_hashed_on_its_own_is_never_read_through_a_symlinked_folder(
    work: Path, outside: Path, depth: str
) -> None:
    """Big files are stat'ed in a chunk and hashed later as tasks of their own: the
    one place that opens them walks DIR's folders without following a symlink, so a
    folder swapped in between is refused, never read through."""
    (outside / "big.bin").write_bytes(CANARY)
    (work / depth).mkdir(parents=True)
    (work / depth / "big.bin").write_bytes(b"mine")
    path = f"{depth}/big.bin"
    buffer = bytearray(hashing.BLOCK)
    hashed = describe._hash_big(os.fsencode(work), path, buffer, lambda count: None)
    assert hashed[0] == hashlib.sha256(b"mine").hexdigest()

    shutil.rmtree(work / depth)
    (work / depth).symlink_to(outside)
    refused = describe._hash_big(os.fsencode(work), path, buffer, lambda count: None)

    assert isinstance(refused, hashing.Unhashable)
    assert hashlib.sha256(CANARY).hexdigest() not in refused.reason


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.sets(
        st.lists(st.sampled_from(["a", "b", "passwd"]), min_size=1, max_size=4).map("/".join),
        min_size=1,
        max_size=10,
    ),
    swapped=st.sets(st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3).map("/".join)),
    tracked=st.booleans(),
)
def test_random_trees_with_symlinked_folders_list_gits_set_and_no_canary(
    files: set[str], swapped: set[str], tracked: bool
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        work, outside = Path(temporary) / "work", Path(temporary) / "outside"
        tree = {path: path for path in files if not any(o.startswith(path + "/") for o in files)}
        write_tree(work, tree)
        # The folder outside holds the same tree, each file with the canary.
        write_tree(outside, dict.fromkeys(tree, CANARY))
        if tracked:
            commit_all(work)
        done: list[str] = []
        for folder in sorted(swapped, key=len):
            inside_swapped = any(folder.startswith(other + "/") for other in done)
            if (work / folder).is_dir() and not inside_swapped:
                shutil.rmtree(work / folder)
                (work / folder).symlink_to(outside / folder)
                done.append(folder)

        built = build_plan(work, cache=False)

        assert_no_canary(built.data)
        scratch = Path(temporary) / "scratch"
        scratch.mkdir()
        expected = git_listing(work) if tracked else fresh_repository_listing(work, scratch)
        assert plan_paths(built) == expected


# --- 2. Git's refusal is not "not a repository" ----------------------------------------


def test_dubious_ownership_is_refused_and_the_safe_directory_hint_works(work: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give the repository to another user")
    write_tree(work, {".gitignore": "secret.env\n", "secret.env": "tracked though ignored"})
    git(work, "init", "--quiet")
    git(work, "add", "--force", ".")
    for folder, names, files in os.walk(work):
        for name in [folder, *(os.path.join(folder, n) for n in names + files)]:
            os.chown(name, 65534, 65534)

    with pytest.raises(UsageError, match="dubious ownership") as refused:
        build_plan(work)

    assert refused.value.hint is not None
    command = refused.value.hint.rpartition(": ")[2]
    assert command == f"git config --global --add safe.directory {work}"
    subprocess.run(shlex.split(command), check=True)  # the test's own global config
    built = build_plan(work)
    assert plan_paths(built) == {".gitignore", "secret.env"}  # not fresh-folder mode
    assert built.inside_work_tree


@pytest.mark.parametrize("content", ["gitdir: {missing}\n", "not a gitfile\n"])
def test_a_git_file_that_leads_nowhere_is_refused_and_removing_it_works(
    work: Path, tmp_path: Path, content: str
) -> None:
    write_tree(work, {"a": "", ".git": content.format(missing=tmp_path / "gone")})

    with pytest.raises(UsageError, match="git refused to work in") as refused:
        build_plan(work / ".")

    assert f"The .git file {work / '.git'} does not lead" in str(refused.value.hint)
    (work / ".git").unlink()
    assert plan_paths(build_plan(work)) == {"a"}


def test_a_corrupt_index_is_refused_and_the_rebuild_hint_works(work: Path) -> None:
    write_tree(work, {"a": "a", "b": "b"})
    commit_all(work)
    (work / ".git" / "index").write_bytes(b"DIRC" + os.urandom(60))

    with pytest.raises(UsageError, match="index file corrupt") as refused:
        build_plan(work)

    assert refused.value.hint is not None
    index = work / ".git" / "index"
    command = f"mv {index} {index}.corrupt && git -C {work} reset"
    assert refused.value.hint == (
        f"Rebuild the index from the last commit (changes staged since are lost): {command}"
    )
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)  # as a user would
    assert plan_paths(build_plan(work)) == git_listing(work) == {"a", "b"}


@pytest.mark.parametrize("where", [".git", ".git/objects", ".git/refs/heads", "../bare.git"])
def test_a_folder_inside_a_git_folder_is_refused(work: Path, tmp_path: Path, where: str) -> None:
    write_tree(work, {"a": ""})
    commit_all(work)
    git(tmp_path, "init", "--quiet", "--bare", "bare.git")

    with pytest.raises(UsageError) as refused:
        build_plan(work / where)

    assert refused.value.message == (
        f"{(work / where).resolve()} is inside a git folder, which holds git's own data, "
        "not workspace files."
    )
    assert refused.value.hint == (
        "Plan the work tree instead: the folder that holds the .git folder."
    )
    assert plan_paths(build_plan(work)) == {"a"}  # the work tree, as the hint says


@pytest.mark.parametrize("name", ["sub", "a sub"])
def test_a_folder_of_a_repository_whose_work_tree_is_elsewhere_is_refused_with_the_fix(
    work: Path, tmp_path: Path, name: str
) -> None:
    """core.worktree names another folder: git in DIR answers for that one (neither in
    a work tree nor in a git folder, and no error), and its files are not DIR's. The
    hint, pasted into a shell, makes DIR's own folder the work tree again."""
    elsewhere = tmp_path / "elsewhere"
    write_tree(elsewhere, {"other.txt": "not in DIR\n"})
    write_tree(work, {f"{name}/a": ""})
    git(work, "init", "--quiet")
    git(work, "config", "core.worktree", str(elsewhere))

    with pytest.raises(UsageError) as refused:
        build_plan(work / name)

    sub = (work / name).resolve()
    assert refused.value.message == (
        f"{sub} is in a git repository whose work tree is elsewhere, {elsewhere.resolve()} "
        "(its core.worktree setting)."
    )
    command = f"git -C {shlex.quote(str(sub))} config --unset core.worktree"
    assert refused.value.hint == (
        f"If this folder is that repository's work tree, remove the setting: {command}"
    )
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)  # as a user would
    assert plan_paths(build_plan(work / name)) == {"a"}


@pytest.mark.parametrize("ignore_file", [".gitignore", "sub/.gitignore", ".acpignore"])
@pytest.mark.parametrize("inside_git", [False, True])
def test_a_symlinked_ignore_file_is_refused_and_a_copy_works(
    work: Path, tmp_path: Path, ignore_file: str, inside_git: bool
) -> None:
    rules = tmp_path / "rules"
    rules.write_text("secret.env\n")
    write_tree(work, {"a": "", "secret.env": "", "sub/secret.env": ""})
    (work / ignore_file).symlink_to(rules)
    if inside_git:
        git(work, "init", "--quiet")

    with pytest.raises(UsageError, match="cannot read the ignore file") as refused:
        build_plan(work)

    assert ignore_file in str(refused.value)
    assert "replace" in str(refused.value.hint)
    (work / ignore_file).unlink()
    shutil.copy(rules, work / ignore_file)
    assert str(Path(ignore_file).parent / "secret.env") not in plan_paths(build_plan(work))


@pytest.mark.parametrize("which", ["folder", "info-exclude-folder"])
def test_an_exclude_file_git_cannot_use_is_refused_and_the_hint_works(
    work: Path, tmp_path: Path, which: str
) -> None:
    write_tree(work, {"a": "", "secret.env": ""})
    git(work, "init", "--quiet")
    if which == "folder":
        git(work, "config", "--global", "core.excludesFile", str(tmp_path))
    else:
        (work / ".git" / "info" / "exclude").unlink()
        (work / ".git" / "info" / "exclude").mkdir()

    with pytest.raises(UsageError, match="as an exclude file") as refused:
        build_plan(work)

    assert "Make " in str(refused.value.hint)
    if which == "folder":
        git(work, "config", "--global", "--unset", "core.excludesFile")
    else:
        (work / ".git" / "info" / "exclude").rmdir()
    assert plan_paths(build_plan(work)) == {"a", "secret.env"}


UNREADABLE_RULES = {
    ".gitignore": "work/.gitignore",
    "sub/.gitignore": "work/sub/.gitignore",
    ".acpignore": "work/.acpignore",
    ".acpignore that git ignores": "work/.acpignore",
    "info/exclude": "work/.git/info/exclude",
    "excludesFile": "home/global-ignore",
}


@pytest.mark.parametrize("which", sorted(UNREADABLE_RULES))
def test_an_ignore_file_that_cannot_be_read_is_refused_even_for_root(
    tmp_path: Path, which: str
) -> None:
    work = tmp_path / "work"
    write_tree(work, {"a": "", "secret.env": "SECRET", "sub/secret.env": "SECRET"})
    git(work, "init", "--quiet")
    rules = tmp_path / UNREADABLE_RULES[which]
    rules.write_text("secret.env\n")
    if which == "excludesFile":
        git(work, "config", "--global", "core.excludesFile", str(rules))
    if which == ".acpignore that git ignores":
        (work / ".gitignore").write_text(".acpignore\n")
    rules.chmod(0)

    refused = run_acp_unprivileged("push", "plan", str(work))

    assert refused.code == 2, refused.stderr
    assert f"git cannot read the ignore file {rules}: Permission denied" in refused.stderr
    assert refused.stdout == ""
    assert f"Make {rules} readable" in refused.stderr
    rules.chmod(0o644)  # as the hint says
    done = run_acp_unprivileged("push", "plan", str(work))
    assert done.code == 0, done.stderr
    listed = {entry["path"] for entry in json.loads(done.stdout)["files"]}
    assert "sub/secret.env" not in listed
    assert ("secret.env" in listed) == (which == "sub/.gitignore")


# --- 5. Every hint works when followed -------------------------------------------------


def listed(run: Run) -> set[str]:
    assert run.code == 0, run.stderr
    return {entry["path"] for entry in json.loads(run.stdout)["files"]}


@pytest.mark.parametrize("inside_git", [False, True])
@pytest.mark.parametrize("follow", [".acpignore", "--exclude", "chmod"])
def test_an_unreadable_folder_is_refused_and_each_way_out_the_hint_gives_works(
    work: Path, inside_git: bool, follow: str
) -> None:
    # DIR is a subfolder: git names folders from the top of the work tree.
    write_tree(work, {"top.txt": "", "dir/a": "", "dir/sub/locked/b": "", "dir/sub/c": ""})
    if inside_git:
        git(work, "init", "--quiet")
    plan_dir = work / "dir" if inside_git else work
    locked = "sub/locked" if inside_git else "dir/sub/locked"
    (plan_dir / locked).chmod(0)

    refused = run_acp_unprivileged("push", "plan", str(plan_dir))

    assert refused.code == 2, refused.stderr
    assert f"Cannot read the folder {locked}: permission denied." in refused.stderr
    assert f"add /{locked}/ to the .acpignore in the workspace folder" in refused.stderr
    assert f"--exclude /{locked}/" in refused.stderr
    args: list[str] = []
    if follow == ".acpignore":
        (plan_dir / ".acpignore").write_text(f"/{locked}/\n")
    elif follow == "--exclude":
        args = ["--exclude", f"/{locked}/"]
    else:
        (plan_dir / locked).chmod(0o755)
    paths = listed(run_acp_unprivileged("push", "plan", str(plan_dir), *args))
    assert (f"{locked}/b" in paths) == (follow == "chmod")
    assert "sub/c" in paths or "dir/sub/c" in paths
    # The plan of one who can read the folder (this process, as root in CI) is the same.
    assert paths == plan_paths(build_plan(plan_dir, excludes=args[1:]))


def test_a_folder_rule_that_leaves_out_only_some_files_does_not_hide_an_unreadable_one(
    work: Path,
) -> None:
    write_tree(work, {"a": "", "locked/b.log": "", "locked/c.txt": ""})
    (work / "locked").chmod(0)

    refused = run_acp_unprivileged("push", "plan", str(work), "--exclude", "locked/*.log")

    assert refused.code == 2  # what else it holds is unknown: refused, not guessed
    assert "Cannot read the folder locked" in refused.stderr


@pytest.mark.parametrize("follow", [".acpignore", "chmod"])
def test_an_unreadable_file_gets_the_permission_hint_and_following_it_works(
    work: Path, follow: str
) -> None:
    write_tree(work, {"a": "", "secret.txt": "x"})
    (work / "secret.txt").chmod(0)

    refused = run_acp_unprivileged("push", "plan", str(work))

    assert refused.code == 2, refused.stderr
    assert "Cannot plan secret.txt: cannot read it: Permission denied." in refused.stderr
    assert "Fix its permissions, or leave it out with .acpignore or --exclude." in refused.stderr
    assert "Stop whatever writes" not in refused.stderr
    if follow == ".acpignore":
        (work / ".acpignore").write_text("secret.txt\n")
    else:
        (work / "secret.txt").chmod(0o644)
    assert ("secret.txt" in listed(run_acp_unprivileged("push", "plan", str(work)))) == (
        follow == "chmod"
    )


def test_a_tracked_file_replaced_by_a_folder_is_not_called_a_submodule(work: Path) -> None:
    write_tree(work, {"conf": "a file", "empty": "a file", "x": ""})
    commit_all(work)
    for name in ("conf", "empty"):
        (work / name).unlink()
        (work / name).mkdir()
    write_tree(work, {"conf/new.txt": "untracked"})

    built = build_plan(work)

    assert built.skipped == ()
    assert plan_paths(built) == git_listing(work) == {"x", "conf/new.txt"}


def test_a_symlink_loop_as_dir_is_named_as_one_and_giving_the_folder_works(
    work: Path, tmp_path: Path
) -> None:
    write_tree(work, {"a": ""})
    loop = tmp_path / "loop"
    loop.symlink_to(loop)

    run = run_acp("push", "plan", str(loop))

    assert run.code == 2
    assert f"The workspace folder {loop} is a symlink that leads back to itself." in run.stderr
    assert ".acpignore" not in run.stderr
    loop.unlink()
    loop.symlink_to(work)  # as the hint says: point the link at a folder
    assert listed(run_acp("push", "plan", str(loop))) == {"a"}


@pytest.mark.parametrize("where", ["file", "folder", "nested repository", "link text"])
@pytest.mark.parametrize("follow", [".acpignore", "--exclude"])
def test_a_name_that_is_not_utf8_can_be_left_out_as_the_hint_says(
    work: Path, where: str, follow: str
) -> None:
    raw = os.fsencode(work)
    write_tree(work, {"fine.txt": "ok"})
    name = {"file": b"bad-\xff", "link text": b"link"}.get(where, b"dir-\xfe")
    if where == "file":
        Path(os.fsdecode(raw + b"/" + name)).write_bytes(b"x")
    elif where == "link text":
        os.symlink(b"target-\xff", raw + b"/" + name)
    else:
        write_tree(Path(os.fsdecode(raw + b"/" + name)), {"inner": "x"})
        if where == "nested repository":
            git(Path(os.fsdecode(raw + b"/" + name)), "init", "--quiet")

    with pytest.raises(UsageError, match="not valid UTF-8") as refused:
        build_plan(work)

    assert refused.value.hint == "Rename it, or leave it out with .acpignore or --exclude."
    excludes: list[str] = []
    if follow == ".acpignore":
        (work / ".acpignore").write_bytes(b"/" + name + b"\n")
    else:
        excludes = ["/" + os.fsdecode(name)]  # as the shell passes it: the raw bytes
    built = build_plan(work, excludes=excludes)
    assert plan_paths(built) - {".acpignore"} == {"fine.txt"}
    assert built.skipped == ()
