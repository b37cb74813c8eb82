"""The warning before a stray giant goes out: above the large_plan_* settings (set low
here), `acp push plan` and `prepare --dir` name the largest files and top-level folders
and how to leave them out; at and below them, and with -q, nothing."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest

from acp_cli.emulator import Emulator
from acp_cli.sizes import binary_size
from tests.support.cli_runner import BINDING, run_acp
from tests.support.git_oracle import write_tree

pytestmark = pytest.mark.usefixtures("isolated_git")

TREE = {
    "data/a.bin": "a" * 9000,
    "data/b.bin": "b" * 8000,
    "models/m.bin": "m" * 7000,
    "we ird*[1]/big": "w" * 6000,
    "src/app.py": "p" * 500,
    "src/lib.py": "l" * 400,
    "top.txt": "t" * 300,
}
FILES = len(TREE)
BYTES = sum(len(content) for content in TREE.values())


@pytest.fixture
def work(work: Path) -> Path:
    write_tree(work, TREE)
    return work


def limits(files: int = 50_000, size: int = 1 << 30) -> dict[str, str]:
    return {"ACP_LARGE_PLAN_FILES": str(files), "ACP_LARGE_PLAN_BYTES": str(size)}


@pytest.mark.parametrize(
    "env",
    [limits(files=FILES), limits(size=BYTES), limits(FILES, BYTES), limits(FILES + 1, BYTES * 2)],
    ids=["files-at", "bytes-at", "both-at", "below"],
)
def test_at_or_below_the_thresholds_nothing_is_said(work: Path, env: dict[str, str]) -> None:
    run = run_acp("push", "plan", str(work), env=env)
    assert run.code == 0
    assert run.stderr == ""


@pytest.mark.parametrize(
    ("env", "over"),
    [
        (limits(files=FILES - 1), f"more than {FILES - 1} files or 1.0 GiB"),
        (limits(size=BYTES - 1), f"more than 50,000 files or {binary_size(BYTES - 1)}"),
    ],
)
def test_above_a_threshold_the_largest_files_and_folders_are_named(
    work: Path, env: dict[str, str], over: str
) -> None:
    run = run_acp("push", "plan", str(work), env=env)
    assert run.code == 0
    assert json.loads(run.stdout)["files"]  # the plan is still written
    lines = run.stderr.splitlines()
    assert lines[0] == (
        f"Warning: this plan is unusually large: {FILES} files, {binary_size(BYTES)} ({over})."
    )
    assert lines[1] == (
        "  Largest files: data/a.bin (8.8 KiB), data/b.bin (7.8 KiB), models/m.bin (6.8 KiB), "
        "we ird*[1]/big (5.9 KiB), src/app.py (500 bytes)."
    )
    assert lines[2] == (
        "  Largest top-level folders: data/ (16.6 KiB), models/ (6.8 KiB), "
        "we ird*[1]/ (5.9 KiB), src/ (900 bytes)."
    )
    assert "-q hides this warning" in lines[3]


def advice(stderr: str) -> tuple[str, str]:
    """The .acpignore line and the --exclude argument the warning suggests."""
    found = re.search(r"add a line (.+) to \.acpignore or give --exclude (.+); -q", stderr)
    assert found is not None, stderr
    [exclude] = shlex.split(found.group(2))
    return found.group(1), exclude


def test_the_advice_leaves_out_the_largest_folder_when_followed(work: Path) -> None:
    env = limits(size=BYTES - 1)
    line, exclude = advice(run_acp("push", "plan", str(work), env=env).stderr)
    assert (line, exclude) == ("/data/", "/data/")
    excluded = run_acp("push", "plan", str(work), "--exclude", exclude, env=env)
    paths = [entry["path"] for entry in json.loads(excluded.stdout)["files"]]
    assert paths == sorted(name for name in TREE if not name.startswith("data/"))
    (work / ".acpignore").write_text(line + "\n")
    ignored = run_acp("push", "plan", str(work), env=env)
    assert [entry["path"] for entry in json.loads(ignored.stdout)["files"]] == [
        ".acpignore",
        *paths,
    ]


def test_the_advice_for_a_name_with_pattern_characters_matches_that_name_alone(
    work: Path,
) -> None:
    for name in ("data/a.bin", "data/b.bin", "models/m.bin"):
        (work / name).unlink()
    write_tree(work, {"we ird*[1]/more": "x" * 9000, "we ird11/other": "o"})
    env = limits(size=1000)
    line, exclude = advice(run_acp("push", "plan", str(work), env=env).stderr)
    assert line == "/we ird\\*\\[1]/"
    excluded = run_acp("push", "plan", str(work), "--exclude", exclude, env=env)
    paths = [entry["path"] for entry in json.loads(excluded.stdout)["files"]]
    assert paths == ["src/app.py", "src/lib.py", "top.txt", "we ird11/other"]


def test_quiet_silences_it_for_plan_and_prepare(
    work: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    env = {**api_env, **limits(files=1)}
    assert run_acp("push", "plan", str(work), "-q", env=env).stderr == ""
    loud = run_acp("push", "prepare", BINDING, "--dir", str(work), env=env)
    assert loud.code == 0
    assert "Warning: this plan is unusually large" in loud.stderr
    quiet = run_acp("push", "prepare", BINDING, "--dir", str(work), "-q", env=env)
    assert quiet.code == 0
    assert quiet.stderr == ""


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "\u00b2", "1e3", ""])
def test_a_bad_threshold_is_exit_2_naming_its_variable(work: Path, value: str) -> None:
    run = run_acp("push", "plan", str(work), env={"ACP_LARGE_PLAN_FILES": value})
    if value == "":  # unset, as for every variable: the default
        assert run.code == 0
        return
    assert run.code == 2
    assert "ACP_LARGE_PLAN_FILES" in run.stderr
    assert run.stdout == ""
    assert not (Path(os.environ["ACP_CACHE_DIR"]) / "plans").exists()  # nothing hashed
