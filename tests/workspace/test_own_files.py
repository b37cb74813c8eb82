"""acp's own outputs are never planned (issue 15, item 3): the file the plan is written
to, the file standard output is redirected to, acp's temporary files and its cache
folder. Planning an unchanged folder twice gives the same bytes; git is the oracle
for everything else the folder holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from acp_cli.emulator import Emulator
from acp_cli.files import write_atomic
from acp_cli.workspace import SkippedPath, build_plan
from tests.support.cli_runner import BINDING, run_acp
from tests.support.git_oracle import (
    fresh_repository_listing,
    git,
    git_listing,
    plan_paths,
    write_tree,
)
from tests.support.shells import shell

pytestmark = pytest.mark.usefixtures("isolated_git")

TREE = {"README.md": "# hello\n", "src/app.py": "print('hi')\n", "out/.keep": ""}
NOTE = "Note: acp's own files are left out of the plan: "


@pytest.fixture(params=["fresh folder", "git work tree"])
def work(work: Path, request: pytest.FixtureRequest) -> Path:
    """TREE, outside git or in a repository with README.md committed."""
    write_tree(work, TREE)
    if request.param == "git work tree":
        git(work, "init", "--quiet")
        git(work, "add", "README.md")
        git(work, "commit", "--quiet", "-m", "one")
    return work


def listed(data: bytes | str) -> set[str]:
    return {entry["path"] for entry in json.loads(data)["files"]}


def oracle(work: Path, *own: str) -> set[str]:
    """What git lists in ``work`` now (as a fresh repository, outside git), less
    ``own``: acp's files."""
    if (work / ".git").exists():
        found = git_listing(work)
    else:
        found = fresh_repository_listing(work, Path(tempfile.mkdtemp(dir=work.parent)))
    return found - set(own)


@pytest.mark.parametrize("output", ["plan.json", "out/plan.json", "deep/er/plan.json"])
def test_the_output_file_is_left_out_and_two_runs_give_the_same_bytes(
    work: Path, output: str
) -> None:
    target = work / output
    target.parent.mkdir(parents=True, exist_ok=True)
    runs = [run_acp("push", "plan", str(work), "-o", str(target)) for _ in range(3)]

    assert [run.code for run in runs] == [0, 0, 0], runs[0].stderr
    first = target.read_bytes()
    assert listed(first) == oracle(work, output)  # the first run, before it existed, too
    assert runs[0].stderr == ""  # the file did not exist: nothing was left out
    assert runs[1].stderr == runs[2].stderr == f"{NOTE}{output} (the plan is written to it).\n"
    assert [run_acp("push", "plan", str(work), "-o", str(target)).code] == [0]
    assert target.read_bytes() == first


def test_a_relative_output_path_and_the_current_folder(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work / "src")
    run_acp("push", "plan", "..", "-o", "../out/plan.json")
    run = run_acp("push", "plan", "..", "-o", "../out/plan.json")
    assert run.code == 0, run.stderr
    assert listed((work / "out" / "plan.json").read_bytes()) == oracle(work, "out/plan.json")
    assert "out/plan.json (the plan is written to it)" in run.stderr


def test_an_output_symlink_leaves_out_the_link_and_the_file_written(work: Path) -> None:
    (work / "plan.json").symlink_to("out/real.json")
    for _ in range(2):
        run = run_acp("push", "plan", str(work), "-o", str(work / "plan.json"))
        assert run.code == 0, run.stderr
    written = (work / "out" / "real.json").read_bytes()
    assert (work / "plan.json").is_symlink()
    assert listed(written) == oracle(work, "plan.json", "out/real.json")
    assert "plan.json (the plan is written to it); out/real.json (the plan" in run.stderr


def test_the_folder_and_the_output_named_through_symlinked_folders(
    work: Path, tmp_path: Path
) -> None:
    """DIR and FILE spelled through links to folders, and a name that is not ASCII:
    the file is recognised where it resolves."""
    (tmp_path / "to-work").symlink_to(work)
    (tmp_path / "to-out").symlink_to(work / "out")
    output = tmp_path / "to-out" / "plän.json"
    for _ in range(2):
        run = run_acp("push", "plan", str(tmp_path / "to-work"), "-o", str(output))
        assert run.code == 0, run.stderr
    assert listed((work / "out" / "plän.json").read_bytes()) == oracle(work, "out/plän.json")
    assert run.stderr == f"{NOTE}out/plän.json (the plan is written to it).\n"


def test_an_output_outside_the_folder_leaves_out_nothing(work: Path, tmp_path: Path) -> None:
    run = run_acp("push", "plan", str(work), "-o", str(tmp_path / "plan.json"))
    assert run.code == 0
    assert run.stderr == ""
    assert listed((tmp_path / "plan.json").read_bytes()) == oracle(work)


def test_temporary_files_beside_the_output_are_left_out_and_only_those(work: Path) -> None:
    """A write cut short by a kill leaves ``.plan.json.XXXX.tmp`` behind."""
    write_tree(
        work,
        {
            "out/.plan.json.k3j_9x2a.tmp": "{half a pl",
            "out/.plan.json.notes": "mine",  # not acp's: no .tmp
            "out/.other.json.k3j_9x2a.tmp": "mine",  # beside another file
            ".plan.json.k3j_9x2a.tmp": "mine",  # in another folder
        },
    )
    run = run_acp("push", "plan", str(work), "-o", str(work / "out" / "plan.json"))

    assert run.code == 0, run.stderr
    plan = listed((work / "out" / "plan.json").read_bytes())
    assert plan == oracle(work, "out/plan.json", "out/.plan.json.k3j_9x2a.tmp")
    assert "out/.plan.json.*.tmp (acp's temporary files)" in run.stderr


def test_the_temporary_file_of_a_killed_write_is_left_out(work: Path) -> None:
    """A real leftover: the writing process dies (SIGXFSZ: it may write only 1000
    bytes) after write_atomic created its temporary file beside the output."""
    target = work / "out" / "plan.json"
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from acp_cli.files import write_atomic\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "write_atomic(Path(sys.argv[1]), b'x' * 5000)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(target)], timeout=60, check=False)
    assert done.returncode == -signal.SIGXFSZ
    [leftover] = [name for name in os.listdir(target.parent) if name != ".keep"]

    run = run_acp("push", "plan", str(work), "-o", str(target))

    assert run.code == 0, run.stderr
    assert listed(target.read_bytes()) == oracle(work, f"out/{leftover}", "out/plan.json")
    assert run.stderr == f"{NOTE}out/.plan.json.*.tmp (acp's temporary files).\n"


def test_the_note_is_not_shown_with_quiet(work: Path) -> None:
    run = run_acp("push", "plan", str(work), "-q", "-o", str(work / "plan.json"))
    assert run.code == 0
    assert run.stderr == ""
    assert "plan.json" not in listed((work / "plan.json").read_bytes())


@pytest.mark.parametrize("cache_dir", [".cache/acp", ".", "out"])
def test_a_cache_folder_inside_the_folder_is_left_out(
    work: Path, cache_dir: str, tmp_path: Path
) -> None:
    env = {"ACP_CACHE_DIR": str(work / cache_dir)}
    write_tree(work, {".cache/acp/mine.txt": "not acp's"})  # beside the cache: planned
    runs = [run_acp("push", "plan", str(work), env=env) for _ in range(2)]
    uncached = run_acp("push", "plan", str(work), "--no-cache", env=env)

    assert {run.code for run in runs} == {0}, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout == uncached.stdout
    plans = (work / cache_dir / "plans").resolve().relative_to(work.resolve()).as_posix()
    cached = {f"{plans}/{name.name}" for name in (work / cache_dir / "plans").iterdir()}
    assert cached  # the cache was written there
    assert listed(runs[0].stdout) == oracle(work, *cached)
    assert f"{plans}/ (acp's cache folder)" in runs[1].stderr


def test_acps_temporary_repositories_are_left_out_when_tmpdir_is_inside(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside git acp keeps a scratch repository in TMPDIR while git walks DIR."""
    write_tree(work, {"tmp/acp-plan-notes.txt": "mine", "tmp/acp-plan-old/x": "left by a kill"})
    monkeypatch.setattr(tempfile, "tempdir", str(work / "tmp"))
    first, second = build_plan(work, cache=False), build_plan(work, cache=False)

    assert first.data == second.data
    assert plan_paths(first) == oracle(work, "tmp/acp-plan-old/x")
    assert first.left_out == (SkippedPath("tmp/acp-plan-*/", "acp's temporary git repositories"),)
    assert sorted(os.listdir(work / "tmp")) == ["acp-plan-notes.txt", "acp-plan-old"]  # removed


def test_build_plan_leaves_out_what_it_is_asked_to(work: Path) -> None:
    write_tree(work, {"log.txt": "changes every run"})
    built = build_plan(work, leave_out={work / "log.txt": "the log is written to it"})
    assert plan_paths(built) == oracle(work, "log.txt")
    assert built.left_out == (SkippedPath("log.txt", "the log is written to it"),)
    assert build_plan(work).left_out == ()


def test_prepare_saving_its_plan_in_the_folder_is_new_then_reused(
    work: Path, emulator: Emulator, api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help's own example, three times: new, reused, reused."""
    monkeypatch.chdir(work)
    args = ("push", "prepare", BINDING, "--dir", ".", "--save-plan", "sent.json", "-o", "json")
    runs = [run_acp(*args, env=api_env) for _ in range(3)]

    assert [run.code for run in runs] == [0, 0, 0], runs[0].stderr
    assert [json.loads(run.stdout)["created"] for run in runs] == [True, False, False]
    [session] = emulator.sessions()
    assert listed((work / "sent.json").read_bytes()) == oracle(work, "sent.json")
    assert session["planSignature"] == build_plan(work, leave_out={"sent.json": ""}).signature
    assert "sent.json (the plan is written to it)" in runs[1].stderr


@pytest.mark.parametrize("redirect", [">", ">>"])
def test_standard_output_redirected_into_the_folder_is_left_out(work: Path, redirect: str) -> None:
    """Only a process has its standard output on a file: the shell creates (and with
    ``>`` truncates) it before acp starts."""
    done = shell(f"cd {work} && acp push plan {redirect} plan.json", {})
    again = shell(f"cd {work} && acp push plan {redirect} plan.json", {})

    assert (done.returncode, again.returncode) == (0, 0), done.stderr + again.stderr
    assert done.stderr == again.stderr == f"{NOTE}plan.json (standard output is written to it).\n"
    lines = (work / "plan.json").read_bytes().splitlines()
    assert len(lines) == (2 if redirect == ">>" else 1)
    assert len(set(lines)) == 1  # the same bytes each time
    assert listed(lines[0]) == oracle(work, "plan.json")


def test_standard_output_on_a_file_outside_the_folder_leaves_out_nothing(
    work: Path, tmp_path: Path
) -> None:
    done = shell(f"cd {work} && acp push plan > {tmp_path / 'plan.json'}", {})
    assert done.returncode == 0
    assert done.stderr == ""
    assert listed((tmp_path / "plan.json").read_bytes()) == oracle(work)


# Names that are acp's beside plan.json, and names that only look like it.
NAMES = ["a", "plan.json", ".plan.json.k3j_9x2a.tmp", ".plan.json.tmp", "plan.json.bak", "c"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paths=st.sets(
        st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join),
        min_size=1,
        max_size=10,
    ),
    where=st.integers(min_value=0),
    cache_inside=st.booleans(),
    git_work_tree=st.booleans(),
)
def test_random_trees_with_the_plan_written_inside_plan_the_same_twice(
    paths: set[str], where: int, cache_inside: bool, git_work_tree: bool
) -> None:
    """Whatever the tree and wherever in it the plan is written: the plan is git's set
    less exactly acp's files, and planning again after writing it gives the same bytes."""
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary) / "work"
        files: dict[str, str] = {}
        for path in sorted(paths, key=len, reverse=True):
            if not any(other.startswith(path + "/") for other in files):
                files[path] = path
        write_tree(work, files)
        folders = sorted({os.path.dirname(path) for path in files})
        folder = folders[where % len(folders)]
        output = work / folder / "plan.json"
        assume(not output.is_dir())
        if git_work_tree:
            git(work, "init", "--quiet")
        env = {**os.environ}
        if cache_inside:
            env["ACP_CACHE_DIR"] = str(work / folder / ".c")
        leave_out: dict[Path | str, str] = {output: "the plan is written to it"}

        built = build_plan(work, env=env, leave_out=leave_out)
        write_atomic(output, built.data + b"\n")
        again = build_plan(work, env=env, leave_out=leave_out)

        assert again.data == built.data
        prefix = f"{folder}/" if folder else ""
        own = {f"{prefix}plan.json", f"{prefix}.plan.json.k3j_9x2a.tmp"}
        if cache_inside:
            own |= {f"{prefix}.c/plans/{name}" for name in os.listdir(work / folder / ".c/plans")}
        scratch = Path(temporary) / "oracle"
        scratch.mkdir()
        listing = git_listing(work) if git_work_tree else fresh_repository_listing(work, scratch)
        assert plan_paths(again) == listing - own
