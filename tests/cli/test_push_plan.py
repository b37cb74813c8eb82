"""`acp push plan` and `acp push prepare --dir` through the one entry point: output,
files written, warnings, progress, and the round trip to the emulator."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from acp_cli.emulator import Emulator
from acp_cli.emulator.endpoint import reference_signature
from acp_cli.workspace import build_plan
from tests.support.cli_runner import BINDING, run_acp
from tests.support.git_oracle import git, write_tree
from tests.support.terminal import run_on_terminal

TREE = {
    "README.md": "# hello\n",
    "src/app.py": "print('hi')\n",
    "build/out.bin": "ignored\n",
    "notes.log": "ignored\n",
    ".gitignore": "build/\n*.log\n",
}


pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def work(work: Path) -> Path:
    """The workspace folder, holding TREE."""
    write_tree(work, TREE)
    return work


def listed(data: bytes) -> list[str]:
    return [entry["path"] for entry in json.loads(data)["files"]]


def test_plan_prints_the_canonical_plan_and_a_newline(work: Path) -> None:
    run = run_acp("push", "plan", str(work))
    assert run.code == 0, run.stderr
    assert run.stderr == ""  # not a terminal: no progress, no summary
    data = run.stdout.encode()
    assert data.endswith(b"}\n")
    plan = json.loads(data)
    assert listed(data) == [".gitignore", "README.md", "src/app.py"]
    assert "sha256:" + hashlib.sha256(data[:-1]).hexdigest() == reference_signature(plan)
    signed = run_acp("push", "signature", "-", stdin=data)
    assert signed.stdout == reference_signature(plan) + "\n"


def test_plan_defaults_to_the_current_folder(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    assert run_acp("push", "plan").stdout == run_acp("push", "plan", str(work)).stdout


def test_excludes_and_acpignore_leave_out_more(work: Path) -> None:
    (work / ".acpignore").write_text("README.md\n")
    run = run_acp("push", "plan", str(work), "--exclude", "/src/", "--exclude", "*.md")
    assert run.code == 0, run.stderr
    assert listed(run.stdout.encode()) == [".acpignore", ".gitignore"]


def test_inside_a_repository_the_plan_is_gits_set(work: Path) -> None:
    git(work, "init", "-q")
    git(work, "add", "README.md", ".gitignore")
    (work / "notes.log").write_text("tracked though ignored\n")
    git(work, "add", "-f", "notes.log")
    run = run_acp("push", "plan", str(work))
    assert listed(run.stdout.encode()) == [".gitignore", "README.md", "notes.log", "src/app.py"]


def test_output_file_is_written_atomically_and_private_to_nobody(
    work: Path, tmp_path: Path
) -> None:
    target = tmp_path / "plan.json"
    run = run_acp("push", "plan", str(work), "-o", str(target))
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert target.read_bytes() == build_plan(work).data + b"\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.json")] == []


def test_output_through_a_symlink_writes_the_target_and_keeps_the_link(
    work: Path, tmp_path: Path
) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "plan.json"
    real.write_text("old")
    link = tmp_path / "plan.json"
    link.symlink_to(real)
    assert run_acp("push", "plan", str(work), "-o", str(link)).code == 0
    assert link.is_symlink()
    assert real.read_bytes() == build_plan(work).data + b"\n"


def test_output_to_a_fifo_is_written_in_place_never_renamed_over(
    work: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    run = run_acp("push", "plan", str(work), "-o", str(fifo))
    reader.join(10)
    assert run.code == 0, run.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received == [build_plan(work).data + b"\n"]


def test_a_name_that_is_not_utf8_is_exit_2_and_leaves_the_output_untouched(
    work: Path, tmp_path: Path
) -> None:
    (work / os.fsdecode(b"bad-\xff.txt")).write_text("x")
    target = tmp_path / "plan.json"
    target.write_text("previous plan")
    run = run_acp("push", "plan", str(work), "-o", str(target))
    assert run.code == 2
    assert "bad-\\xff.txt" in run.stderr
    assert target.read_text() == "previous plan"


def test_special_files_are_skipped_with_a_warning_naming_each(work: Path) -> None:
    os.mkfifo(work / "pipe")
    run = run_acp("push", "plan", str(work))
    assert run.code == 0, run.stderr
    assert "pipe" not in listed(run.stdout.encode())
    assert "Warning: pipe: skipped, a FIFO" in run.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["/nonexistent/folder"], "/nonexistent/folder"),
        (["{work}", "-o", "/nonexistent/dir/plan.json"], "/nonexistent/dir/plan.json"),
    ],
)
def test_bad_paths_are_exit_2_naming_them(work: Path, args: list[str], said: str) -> None:
    run = run_acp("push", "plan", *(arg.format(work=work) for arg in args))
    assert run.code == 2
    assert said in run.stderr


# --- on a terminal ----------------------------------------------------------------------


def test_a_summary_line_on_a_terminal_only(work: Path, tmp_path: Path) -> None:
    os.mkfifo(work / "pipe")
    built = build_plan(work)
    args = ["push", "plan", str(work), "-o", str(tmp_path / "p.json")]
    code, out, err = run_on_terminal(args, {})
    assert code == 0
    assert out == ""
    assert err.splitlines()[-1] == f"3 files, {built.total_bytes} bytes, 1 skipped"
    _, _, in_ci = run_on_terminal(args, {"CI": "true"})
    _, _, quiet = run_on_terminal([*args, "-q"], {})
    assert "skipped, a FIFO" in in_ci  # warnings stay
    assert "files," not in in_ci + quiet


@pytest.mark.parametrize("columns", [40, 80, 120])
def test_the_bar_fits_the_terminal_and_moves_while_one_big_file_is_hashed(
    work: Path, tmp_path: Path, columns: int
) -> None:
    """1,100 small files and one of 1 GiB (sparse: read at memory speed): the bar
    redraws on the clock as bytes are read, within the terminal's width, and says
    how far it is from its first frame."""
    write_tree(work, {f"d{i % 7}/f{i}": f"{i}\n" for i in range(1100)})
    with open(work / "model.bin", "wb") as big:
        big.truncate(1 << 30)
    args = ["push", "plan", str(work), "--no-cache", "-o", str(tmp_path / "plan.json")]

    code, _, drawn = run_on_terminal(args, {}, columns=columns)

    assert code == 0, drawn
    frames = [
        frame
        for frame in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn))
        if "%" in frame
    ]
    assert frames, drawn
    assert all(len(frame) < columns for frame in frames), frames
    # The counts give way to the percent and the bytes where the terminal is narrow.
    pattern = r"(\d+)% (?:([\d,]+)/(\d,\d{3})(?: files)?, )?([\d.,]+ (?:bytes|KiB|MiB|GiB))"
    shown = [re.search(pattern, frame) for frame in frames]
    assert all(shown), [f for f, m in zip(frames, shown, strict=True) if not m]
    first = shown[0]
    assert first is not None
    assert first[2] != "0" or first[4] != "0 bytes"  # the first frame already moved
    hashed_while_one_file_is_left = {
        match[4]
        for match in shown
        if match is not None
        and match[2] is not None
        and int(match[3].replace(",", "")) - int(match[2].replace(",", "")) == 1
    }
    assert len(hashed_while_one_file_is_left) >= 3, frames
    last = shown[-1]
    assert last is not None
    assert last[1] == "100"
    if columns >= 80:
        assert "MiB/s" in drawn
        assert "left" in drawn


def test_nothing_is_drawn_for_work_shorter_than_the_delay() -> None:
    import io

    from acp_cli.cli.render import PlanProgressBar

    stream = io.StringIO()
    bar = PlanProgressBar(stream, delay=60)
    bar.start(10)
    bar.advance(10, 100)
    bar.close()
    assert stream.getvalue() == ""


# --- prepare --dir ----------------------------------------------------------------------


def test_prepare_dir_makes_a_new_session_then_reuses_it(
    work: Path, emulator: Emulator, api_env: dict[str, str], tmp_path: Path
) -> None:
    saved = tmp_path / "sent.json"
    first = run_acp(
        "push", "prepare", BINDING, "--dir", str(work), "--save-plan", str(saved), env=api_env
    )
    second = run_acp("push", "prepare", BINDING, "--dir", str(work), "-o", "json", env=api_env)
    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    assert first.stdout.startswith("New push session")
    assert json.loads(second.stdout)["created"] is False
    [session] = emulator.sessions()
    plan = build_plan(work)
    assert session["planSignature"] == plan.signature == reference_signature(json.loads(plan.data))
    assert saved.read_bytes() == plan.data + b"\n"
    [request, _] = emulator.requests()
    assert request.json()["plan"] == json.loads(plan.data)


def test_prepare_dir_dry_run_and_id(
    work: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    dry = run_acp(
        "push", "prepare", BINDING, "--dir", str(work), "--dry-run", "--json", env=api_env
    )
    assert dry.code == 0, dry.stderr
    assert json.loads(dry.stdout)["planSignature"] == build_plan(work).signature
    assert emulator.requests() == []
    only_id = run_acp("push", "prepare", BINDING, "--dir", str(work), "-o", "id", env=api_env)
    assert only_id.stdout == emulator.sessions()[0]["id"] + "\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "--plan PLAN_FILE or the workspace folder as --dir DIR"),
        (["--plan", "{plan}", "--dir", "{work}"], "(one of them)"),
        (["--plan", "{plan}", "--save-plan", "{work}/x.json"], "go with --dir"),
        (["--plan", "{plan}", "--exclude", "*.md"], "go with --dir"),
        (["--dir", "{work}/missing"], "missing"),
        (["--dir", "{plan}"], "is a file"),
    ],
)
def test_plan_source_mistakes_are_exit_2_and_send_nothing(
    args: list[str],
    said: str,
    work: Path,
    plan_file: Path,
    emulator: Emulator,
    api_env: dict[str, str],
) -> None:
    formatted = [arg.format(plan=plan_file, work=work) for arg in args]
    run = run_acp("push", "prepare", BINDING, *formatted, env=api_env)
    assert run.code == 2
    assert said in run.stderr
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({"ACP_API_URL": ""}, 2),  # no API URL configured
        ({"ACP_TOKEN": ""}, 3),  # no token (the fail keyring)
        ({"ACP_API_URL": "http://example.com"}, 2),  # plain http off loopback
    ],
)
def test_prepare_dir_checks_settings_before_hashing_and_saves_nothing(
    work: Path, tmp_path: Path, api_env: dict[str, str], env: dict[str, str], code: int
) -> None:
    saved = tmp_path / "sent.json"
    cache = tmp_path / "home" / "cache"
    args = ["push", "prepare", BINDING, "--dir", str(work), "--save-plan", str(saved)]
    run = run_acp(*args, env={**api_env, **env})
    assert run.code == code, run.stderr
    assert not saved.exists()
    assert not cache.exists()  # nothing was hashed


def test_prepare_dir_with_a_binding_too_long_to_send_hashes_nothing(
    work: Path, tmp_path: Path, api_env: dict[str, str]
) -> None:
    run = run_acp("push", "prepare", "b" * 70_000, "--dir", str(work), env=api_env)
    assert run.code == 2
    assert not (tmp_path / "home" / "cache").exists()


# --- plans with no files ----------------------------------------------------------------

EMPTY_PLAN = '{"files":[],"version":1}\n'


@pytest.mark.parametrize(
    ("make", "args", "why"),
    [
        ("ignored", [], "git ignores the folder itself (.gitignore:1:build/;"),
        ("empty", [], "the folder is empty"),
        ("only-ignored", [], "git's ignore rules leave out every file in it"),
        ("excluded", ["--exclude", "*"], ".acpignore files or --exclude patterns leave out"),
    ],
)
def test_a_plan_with_no_files_warns_why_and_prepare_refuses_it_unless_allowed(
    work: Path,
    emulator: Emulator,
    api_env: dict[str, str],
    make: str,
    args: list[str],
    why: str,
) -> None:
    git(work, "init", "--quiet")
    folder = {"ignored": work / "build", "only-ignored": work / "logs"}.get(make, work / "new")
    folder.mkdir(exist_ok=True)
    if make == "only-ignored":
        write_tree(folder, {"a.log": "", "b.log": ""})  # *.log in .gitignore
    elif make == "excluded":
        write_tree(folder, {"a": "", "b/c": ""})

    planned = run_acp("push", "plan", str(folder), *args)
    refused = run_acp("push", "prepare", BINDING, "--dir", str(folder), *args, env=api_env)

    assert planned.code == 0, planned.stderr
    assert planned.stdout == EMPTY_PLAN
    assert f"Warning: the plan of {folder} lists no files: {why}" in planned.stderr
    assert refused.code == 2
    assert f"Nothing to push: the plan of {folder} lists no files: {why}" in refused.stderr
    assert "give --allow-empty" in refused.stderr
    assert emulator.requests() == []
    allowed = run_acp(
        "push", "prepare", BINDING, "--dir", str(folder), *args, "--allow-empty", env=api_env
    )
    assert allowed.code == 0, allowed.stderr
    assert f"Warning: the plan of {folder} lists no files: {why}" in allowed.stderr
    [request] = emulator.requests()
    assert request.json()["plan"] == {"files": [], "version": 1}


def test_the_rule_named_for_an_ignored_folder_is_gits_own(work: Path) -> None:
    git(work, "init", "--quiet")
    (work / "build" / "deep").mkdir(parents=True)

    run = run_acp("push", "plan", str(work / "build" / "deep"))

    said = git(work / "build" / "deep", "check-ignore", "-v", ".").decode().split("\t")[0]
    assert said == ".gitignore:1:build/"
    assert f"git ignores the folder itself ({said};" in run.stderr


@pytest.mark.parametrize("plan", ['{"files": []}', '{"files": [ \n ], "version": 1}'])
def test_prepare_refuses_a_plan_file_with_no_files_unless_allowed(
    tmp_path: Path, emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    path = tmp_path / "empty.json"
    path.write_text(plan)

    refused = run_acp("push", "prepare", BINDING, "--plan", str(path), env=api_env)
    from_stdin = run_acp("push", "prepare", BINDING, "--plan", "-", env=api_env, stdin=plan)

    assert refused.code == from_stdin.code == 2
    assert f"Nothing to push: the plan read from {path} lists no files." in refused.stderr
    assert "Nothing to push: the plan read from standard input lists no files." in from_stdin.stderr
    assert emulator.requests() == []
    allowed = run_acp("push", "prepare", BINDING, "--plan", str(path), "--allow-empty", env=api_env)
    assert allowed.code == 0, allowed.stderr
    assert len(emulator.sessions()) == 1


@pytest.mark.parametrize("where", [".git", ".git/objects"])
def test_a_dir_inside_a_git_folder_is_exit_2(work: Path, where: str) -> None:
    git(work, "init", "--quiet")

    run = run_acp("push", "plan", str(work / where))

    assert run.code == 2
    assert "is inside a git folder" in run.stderr
    assert run.stdout == ""
