"""Every message and hint of git's refusals and warnings, whole, one table per error
class (`listing.Git.refusal`, `listing.Git.warning`, the scratch repository's).

git's stderr is given as git writes it (git 2.39's wording); the tests in
test_trust.py make real git refuse and follow each hint."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from acp_cli.errors import UsageError
from acp_cli.workspace.listing import Git, Scratch, acp_excluded

GENERIC = "Run `git -C {root} status` to see what git objects to, and fix that."
GITFILE = (
    "The .git file {gitfile} does not lead to a repository: fix its gitdir line "
    "(`git worktree repair` in the main repository fixes a moved worktree), or remove "
    "it to plan the folder as one outside git."
)


@pytest.mark.parametrize(
    ("stderr", "reason", "hint"),
    [
        (
            b"error: bad object HEAD\nfatal: unable to read tree\n",
            "bad object HEAD; unable to read tree",
            GENERIC,
        ),
        (b"\n  \nfatal: odd\n", "odd", GENERIC),
        # Without an error or fatal line, git's first line, whole.
        (b"warning: something odd\nmore detail\n", "warning: something odd", GENERIC),
        (b"", "no reason given", GENERIC),
        (b"fatal: bad \xff name\n", "bad \\xff name", GENERIC),
        (
            b"fatal: detected dubious ownership in repository at '/r'\n"
            b"To add an exception for this directory, call:\n\n"
            b"\tgit config --global --add safe.directory /r\n",
            "detected dubious ownership in repository at '/r'",
            "If you trust that repository, tell git so, then run acp again: "
            "git config --global --add safe.directory /r",
        ),
        (
            b"fatal: cannot use /x/cannot use y as an exclude file\n",
            "cannot use /x/cannot use y as an exclude file",
            "Make /x/cannot use y a file or remove it (for core.excludesFile: "
            "`git config --global --unset core.excludesFile`).",
        ),
        (
            # An older git says no command to run: the hint must still give one.
            b"fatal: detected dubious ownership in repository at '/r'\n",
            "detected dubious ownership in repository at '/r'",
            GENERIC,
        ),
        (
            b"fatal: cannot use /x/y as an exclude file z as an exclude file\n",
            "cannot use /x/y as an exclude file z as an exclude file",
            "Make /x/y as an exclude file z a file or remove it (for core.excludesFile: "
            "`git config --global --unset core.excludesFile`).",
        ),
    ],
    ids=[
        "error and fatal",
        "blank lines",
        "first line",
        "nothing",
        "not UTF-8",
        "dubious",
        "exclude file",
        "dubious without git's command",
        "exclude file named like git's words",
    ],
)
def test_a_refusal_names_what_git_said_and_the_way_out(
    tmp_path: Path, stderr: bytes, reason: str, hint: str
) -> None:
    refused = Git(tmp_path, os.environ).refusal(stderr)
    assert refused.message == f"git refused to work in {tmp_path}: {reason}."
    assert refused.hint == hint.format(root=tmp_path)


@pytest.mark.parametrize(
    "said", [b"not a git repository: /gone/.git", b"invalid gitfile format: {gitfile}"]
)
@pytest.mark.parametrize("where", ["DIR", "a parent", "nowhere"])
def test_a_git_file_that_leads_nowhere_is_named_where_it_is(
    tmp_path: Path, said: bytes, where: str
) -> None:
    root = tmp_path / "parent" / "dir"
    root.mkdir(parents=True)
    gitfile = {"DIR": root, "a parent": tmp_path / "parent", "nowhere": root}[where] / ".git"
    if where != "nowhere":
        gitfile.write_text("gitdir: /gone\n")
    reason = said.replace(b"{gitfile}", os.fsencode(gitfile))

    refused = Git(root, os.environ).refusal(b"fatal: " + reason + b"\n")

    assert refused.message == f"git refused to work in {root}: {reason.decode()}."
    assert refused.hint == GITFILE.format(gitfile=gitfile)


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        (
            b"warning: unable to access 'sub/.gitignore': Permission denied",
            "git cannot read the ignore file {top}/sub/.gitignore: Permission denied; the "
            "files its rules leave out would be planned.",
            "Make {top}/sub/.gitignore readable, or remove it if its rules are not needed.",
        ),
        (
            b"warning: unable to access 'a': b': Permission denied",  # a file named "a': b"
            "git cannot read the ignore file {top}/a': b: Permission denied; the files its "
            "rules leave out would be planned.",
            "Make {top}/a': b readable, or remove it if its rules are not needed.",
        ),
        (
            b"warning: unable to access '.acpignore': Too many levels of symbolic links",
            "git cannot read the ignore file {top}/.acpignore: Too many levels of symbolic "
            "links; the files its rules leave out would be planned.",
            "git reads no ignore file through a symlink: replace {top}/.acpignore with a copy.",
        ),
        (
            b"warning: could not open directory 'sub/d\xffirX/': Permission denied",
            "Cannot read the folder sub/d\\xffirX: permission denied.",
            "Fix its permissions, or leave it out: add /sub/d\\xffirX/ to the .acpignore in "
            "the workspace folder, or give --exclude /sub/d\\xffirX/.",
        ),
        (
            b"warning: something else",
            "git warned: something else",
            "Fix what git warns about, then run acp again.",
        ),
        (b"odd", "git warned: odd", "Fix what git warns about, then run acp again."),
        (
            b"warning: in x: y",
            "git warned: in x: y",
            "Fix what git warns about, then run acp again.",
        ),
    ],
    ids=["unreadable", "quote in the name", "symlink", "folder", "other", "no prefix", "colons"],
)
def test_a_warning_is_an_error_naming_the_file_and_the_way_out(
    tmp_path: Path, line: bytes, message: str, hint: str
) -> None:
    git = Git(tmp_path / "dir", os.environ)
    git.top = tmp_path  # the work tree's top, from which git names files
    warned = git.warning(line)
    assert warned.message == message.format(top=tmp_path)
    assert warned.hint == hint.format(top=tmp_path)


NO_SCRATCH = (
    "acp could not write its temporary files: No such file or directory.",
    "Free some room in the temporary folder, or point TMPDIR at another one.",
)


def test_a_scratch_repository_that_cannot_be_made_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with Scratch(Git(tmp_path, os.environ)) as scratch, pytest.raises(UsageError) as refused:
        scratch.args()
    assert (refused.value.message, refused.value.hint) == NO_SCRATCH


def test_a_scratch_file_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    with Scratch(Git(tmp_path, os.environ)) as scratch:
        folder = Path(scratch.args()[1]).parent
        written = Path(scratch.write("exclude", "*.log\n"))
        assert written.parent == folder
        assert written.read_bytes() == b"*.log\n"
        (folder / "sub").mkdir()
        with pytest.raises(UsageError) as refused:
            scratch.write("sub/missing/exclude", "x\n")
    assert (refused.value.message, refused.value.hint) == NO_SCRATCH


@pytest.mark.parametrize(
    ("entries", "excludes", "has_acpignore"),
    [
        ([], ["*.log"], True),  # nothing to leave out
        ([(b"a.log", 0o100644)], [], False),  # no rules
    ],
)
def test_no_scratch_repository_is_made_when_nothing_can_be_left_out(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entries: list[tuple[bytes, int]],
    excludes: list[str],
    has_acpignore: bool,
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    with Scratch(Git(tmp_path, os.environ)) as scratch:
        assert acp_excluded(scratch, entries, excludes, has_acpignore) == set()
        assert list(temporary.iterdir()) == []


def test_git_not_installed_is_an_error_saying_where_to_get_it(tmp_path: Path) -> None:
    no_git = tmp_path / "bin"
    no_git.mkdir()
    with pytest.raises(UsageError) as refused:
        Git(tmp_path, {**os.environ, "PATH": str(no_git)}).run("status")
    assert (refused.value.message, refused.value.hint) == (
        "acp push plan needs git, which decides which files a workspace holds, and git is "
        "not installed.",
        "Install git (https://git-scm.com/downloads), then try again.",
    )
