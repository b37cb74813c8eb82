"""`acp push diff` through the one entry point: the three forms, the exit codes, folders
against saved plans, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_runner import run_acp, run_acp_process
from tests.support.git_oracle import write_tree
from tests.support.terminal import run_on_terminal

pytestmark = pytest.mark.usefixtures("isolated_git")

SHA_A = "a" * 64
SHA_B = "b" * 64


def entry(path: str, size: int, sha256: str = SHA_A, mode: str = "100644") -> dict[str, Any]:
    return {"path": path, "size": size, "sha256": sha256, "mode": mode}


OLD: dict[str, Any] = {
    "version": 1,
    "files": [
        entry("README.md", 100),
        entry("bin/run", 10),
        entry("gone.txt", 3000),
        entry("same.txt", 5),
    ],
}
NEW: dict[str, Any] = {
    "version": 1,
    "files": [
        entry("README.md", 1124, SHA_B),
        entry("bin/run", 10, mode="100755"),
        entry("data/big.bin", 2 * 1024 * 1024),
        entry("same.txt", 5),
    ],
}


@pytest.fixture
def plans(tmp_path: Path) -> tuple[str, str]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(OLD))
    new.write_text(json.dumps(NEW, indent=1))
    return str(old), str(new)


def test_the_human_form_lists_each_change_with_its_size_and_a_summary(
    plans: tuple[str, str],
) -> None:
    run = run_acp("push", "diff", *plans)
    assert run.code == 1, run.stderr
    assert run.stderr == ""
    assert run.stdout.splitlines() == [
        "~ README.md (+1.0 KiB)",
        "~ bin/run (+0 bytes)",
        "+ data/big.bin (+2.0 MiB)",
        "- gone.txt (-2.9 KiB)",
        "1 added, 2 modified, 1 deleted; +2.0 MiB",
    ]


def test_name_status_is_gits_letter_a_tab_and_the_path(plans: tuple[str, str]) -> None:
    run = run_acp("push", "diff", *plans, "--name-status")
    assert run.code == 1
    assert run.stdout == "M\tREADME.md\nM\tbin/run\nA\tdata/big.bin\nD\tgone.txt\n"


def test_json_lists_paths_and_byte_totals(plans: tuple[str, str]) -> None:
    run = run_acp("push", "diff", *plans, "--json")
    assert run.code == 1
    old_bytes = sum(item["size"] for item in OLD["files"])
    new_bytes = sum(item["size"] for item in NEW["files"])
    assert json.loads(run.stdout) == {
        "added": ["data/big.bin"],
        "modified": ["README.md", "bin/run"],
        "deleted": ["gone.txt"],
        "unchanged": 1,
        "oldBytes": old_bytes,
        "newBytes": new_bytes,
        "changeBytes": new_bytes - old_bytes,
    }


@pytest.mark.parametrize("form", [[], ["--name-status"], ["--json"]])
def test_the_same_plan_written_differently_is_exit_0(
    plans: tuple[str, str], tmp_path: Path, form: list[str]
) -> None:
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps({"files": OLD["files"][::-1], "version": 1}, indent=3))
    run = run_acp("push", "diff", plans[0], str(reordered), *form)
    assert run.code == 0, run.stderr
    if form == ["--json"]:
        assert json.loads(run.stdout)["unchanged"] == 4
    elif form:
        assert run.stdout == ""
    else:
        assert run.stdout == "No changes: 4 paths the same in both plans.\n"


def test_either_side_can_be_standard_input(plans: tuple[str, str]) -> None:
    old, new = plans
    data = Path(new).read_bytes()
    assert run_acp("push", "diff", old, "-", "--name-status", stdin=data).stdout == (
        run_acp("push", "diff", old, new, "--name-status").stdout
    )
    reverse = run_acp("push", "diff", "-", old, "--name-status", stdin=data)
    assert reverse.stdout == "M\tREADME.md\nM\tbin/run\nD\tdata/big.bin\nA\tgone.txt\n"


def test_a_folder_is_compared_with_the_plan_saved_from_it(work: Path, tmp_path: Path) -> None:
    write_tree(work, {"a.txt": "one\n", "b/c.txt": "two\n", ".gitignore": "*.log\n"})
    saved = tmp_path / "saved.json"
    assert run_acp("push", "plan", str(work), "-o", str(saved)).code == 0
    unchanged = run_acp("push", "diff", str(saved), str(work), "--name-status")
    assert (unchanged.code, unchanged.stdout) == (0, "")

    write_tree(work, {"a.txt": "one, changed\n", "new.txt": "x\n", "skip.log": "ignored\n"})
    (work / "b" / "c.txt").unlink()
    run = run_acp("push", "diff", str(saved), str(work), "--name-status")
    assert run.code == 1, run.stderr
    assert run.stdout == "M\ta.txt\nD\tb/c.txt\nA\tnew.txt\n"
    both_folders = run_acp("push", "diff", str(work), str(work))
    assert both_folders.code == 0
    excluded = run_acp("push", "diff", str(saved), str(work), "--exclude", "new.txt", "--json")
    assert json.loads(excluded.stdout)["added"] == []


@pytest.mark.parametrize("order", ["plan first", "folder first"])
@pytest.mark.parametrize("where", ["sent.json", "deep/er/sent.json"])
def test_a_plan_saved_inside_the_folder_is_not_part_of_the_folders_plan(
    work: Path, order: str, where: str
) -> None:
    """`acp push diff sent.json .`, the help's own example: the plan file compared
    with the folder is acp's own output, not a file the folder adds."""
    write_tree(work, {"a.txt": "one\n", "deep/er/b.txt": "two\n"})
    saved = work / where
    assert run_acp("push", "plan", str(work), "-o", str(saved)).code == 0
    sides = [str(saved), str(work)] if order == "plan first" else [str(work), str(saved)]

    same = run_acp("push", "diff", *sides, "--name-status")

    assert (same.code, same.stdout) == (0, ""), same.stderr
    assert same.stderr == (
        f"Note: acp's own files are left out of the plan: {where} (the plan compared with it).\n"
    )
    write_tree(work, {"a.txt": "one, changed\n"})
    changed = run_acp("push", "diff", *sides, "--name-status", "-q")
    assert (changed.code, changed.stdout, changed.stderr) == (1, "M\ta.txt\n", "")


def test_a_control_character_in_a_path_is_shown_escaped(tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"files": [entry("evil\x1b[2J\tname", 1)]}))
    empty = tmp_path / "empty.json"
    empty.write_text('{"files": []}')
    for form in ([], ["--name-status"]):
        run = run_acp("push", "diff", str(empty), str(odd), *form)
        assert "\x1b" not in run.stdout
        assert "evil\\x1b[2J\\x09name" in run.stdout
    assert json.loads(run_acp("push", "diff", str(empty), str(odd), "--json").stdout)["added"] == [
        "evil\x1b[2J\tname"
    ]


def test_colour_on_a_terminal(plans: tuple[str, str], isolated_env: Path) -> None:
    code, out, _ = run_on_terminal(["push", "diff", *plans], {"ACP_CONFIG_DIR": str(isolated_env)})
    assert code == 1
    assert "\x1b[32m+ data/big.bin (+2.0 MiB)" in out
    assert "\x1b[31m- gone.txt" in out
    assert "\x1b[33m~ README.md" in out
    plain = run_on_terminal(["push", "diff", *plans, "--no-color"], {})[1]
    assert "\x1b[" not in plain
    assert "+ data/big.bin (+2.0 MiB)" in plain


@pytest.mark.parametrize(
    ("args", "stdin", "said"),
    [
        (["{tmp}/missing.json", "{new}"], b"", "missing.json: No such file or directory"),
        (["{tmp}/bad.json", "{new}"], b"", "bad.json"),
        (["{old}", "{tmp}/dup-key.json"], b"", "duplicate key"),
        (["{tmp}/dup-path.json", "{new}"], b"", "lists the path 'a' twice"),
        (["{tmp}/not-plan.json", "{new}"], b"", "is not a push plan: it has no files array"),
        (["-", "-"], b"{}", "OLD and NEW cannot both be -"),
        (["-", "{new}"], b"[1]", "standard input must hold a JSON object"),
        (["{old}", "{new}", "--json", "--name-status"], b"", "--json and --name-status"),
        (["{old}", "{new}", "--exclude", "x"], b"", "--exclude and --no-cache go with a folder"),
    ],
)
def test_trouble_is_exit_2_with_nothing_on_stdout(
    plans: tuple[str, str], tmp_path: Path, args: list[str], stdin: bytes, said: str
) -> None:
    (tmp_path / "bad.json").write_text('{"files": [')
    (tmp_path / "dup-key.json").write_text('{"files": [], "files": []}')
    (tmp_path / "dup-path.json").write_text(json.dumps({"files": [entry("a", 1), entry("a", 2)]}))
    (tmp_path / "not-plan.json").write_text('{"version": 1}')
    filled = [arg.format(tmp=tmp_path, old=plans[0], new=plans[1]) for arg in args]
    run = run_acp("push", "diff", *filled, stdin=stdin)
    assert run.code == 2, run.output
    assert run.stdout == ""
    assert said in run.stderr


def test_the_console_script_exits_1_with_the_whole_listing_on_a_pipe(
    plans: tuple[str, str],
) -> None:
    run = run_acp_process("push", "diff", *plans, "--name-status")
    assert (run.code, run.stderr) == (1, "")
    assert run.stdout.count("\n") == 4
