"""What changed since the last plan prepared here: remembered after each successful
`prepare` (per API origin and binding, private files), told on a terminal, and shown
in full by `acp push diff --last`; against the emulator over loopback."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from acp_cli.emulator import Emulator
from acp_cli.sent_plans import SentPlans
from acp_cli.settings import origin_of
from tests.support.cli_runner import BINDING, run_acp
from tests.support.git_oracle import write_tree
from tests.support.terminal import run_on_terminal

pytestmark = pytest.mark.usefixtures("isolated_git")


def sent_folder() -> Path:
    return Path(os.environ["ACP_CACHE_DIR"]) / "sent"


def test_the_second_prepare_on_a_terminal_says_what_changed_since_the_first(
    work: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    write_tree(work, {"a.txt": "one\n", "b.txt": "two\n", "gone.txt": "x" * 3000})
    args = ["push", "prepare", BINDING, "--dir", str(work)]
    code, first_out, first_err = run_on_terminal(args, api_env, columns=120)
    assert code == 0, first_err
    assert "Since the last plan" not in first_out + first_err  # nothing remembered yet

    write_tree(work, {"a.txt": "one, longer\n", "c.txt": "three\n", "d.txt": "four\n"})
    (work / "gone.txt").unlink()
    code, out, err = run_on_terminal(args, api_env, columns=120)
    assert code == 0, err
    assert (
        f"Since the last plan prepared here for {BINDING}: 2 added, 1 modified, 1 deleted "
        "(-2.9 KiB)." in err
    )
    assert "New push session" in out
    assert len(emulator.sessions()) == 2

    same = run_on_terminal(args, api_env, columns=120)
    assert f"Since the last plan prepared here for {BINDING}: no changes." in same[2]


def test_nothing_is_said_on_a_pipe_with_o_id_or_json_but_the_plan_is_remembered(
    work: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    write_tree(work, {"a.txt": "one\n"})
    args = ["push", "prepare", BINDING, "--dir", str(work)]
    assert run_acp(*args, env=api_env).code == 0
    write_tree(work, {"b.txt": "two\n"})
    piped = run_acp(*args, env=api_env)
    as_id = run_on_terminal([*args, "-o", "id"], api_env)
    write_tree(work, {"c.txt": "three\n"})
    as_json = run_on_terminal([*args, "--json"], api_env)
    assert "Since the last" not in piped.output + as_id[1] + as_id[2]
    assert "Since the last" not in as_json[1] + as_json[2]
    assert json.loads(as_json[1])["created"] is True  # stdout is the server's answer alone
    # Each of them was remembered: the last is the plan with c.txt.
    diff = run_acp("push", "diff", "--last", BINDING, str(work), "--name-status", env=api_env)
    assert (diff.code, diff.stdout) == (0, "")


def test_the_remembered_plan_is_private_and_per_origin_and_binding(
    work: Path, make_emulator: Callable[..., Emulator], api_env: dict[str, str]
) -> None:
    write_tree(work, {"a.txt": "one\n"})
    assert run_acp("push", "prepare", BINDING, "--dir", str(work), env=api_env).code == 0
    folder = sent_folder()
    [remembered] = list(folder.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(remembered.stat().st_mode) == 0o600
    origin = origin_of(api_env["ACP_API_URL"])
    assert SentPlans(folder).recall(origin, BINDING) is not None
    assert SentPlans(folder).recall(origin, "wb_other") is None
    assert SentPlans(folder).recall("https://api.example.com", BINDING) is None

    other = make_emulator(tokens=[api_env["ACP_TOKEN"]], bindings=[BINDING])
    elsewhere = {**api_env, "ACP_API_URL": other.url}
    missing = run_acp("push", "diff", "--last", BINDING, str(work), env=elsewhere)
    assert missing.code == 2
    assert f"No plan was prepared here for {BINDING} at {origin_of(other.url)}" in missing.stderr


def test_diff_last_shows_the_full_diff_against_the_remembered_plan(
    work: Path, emulator: Emulator, api_env: dict[str, str], tmp_path: Path
) -> None:
    write_tree(work, {"a.txt": "one\n", "b.txt": "two\n"})
    sent = tmp_path / "sent.json"
    prepare = ["push", "prepare", BINDING, "--dir", str(work), "--save-plan", str(sent)]
    assert run_acp(*prepare, env=api_env).code == 0
    write_tree(work, {"a.txt": "changed\n", "new.txt": "new\n"})
    run = run_acp("push", "diff", "--last", BINDING, str(work), "--name-status", env=api_env)
    assert run.code == 1, run.stderr
    assert run.stdout == "M\ta.txt\nA\tnew.txt\n"
    # The same as comparing with the plan that was saved when it was sent.
    assert run_acp("push", "diff", str(sent), str(work), "--name-status").stdout == run.stdout


@pytest.mark.parametrize(
    "args",
    [["--last", BINDING], ["--last", BINDING, "a.json", "b.json"], ["only-one.json"]],
)
def test_diff_last_takes_exactly_one_plan_and_diff_two(
    args: list[str], api_env: dict[str, str]
) -> None:
    run = run_acp("push", "diff", *args, env=api_env)
    assert run.code == 2
    assert run.stdout == ""
    assert "--last BINDING" in run.stderr


def test_a_remembered_plan_writable_by_others_is_not_trusted(
    work: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    write_tree(work, {"a.txt": "one\n"})
    assert run_acp("push", "prepare", BINDING, "--dir", str(work), env=api_env).code == 0
    [remembered] = list(sent_folder().iterdir())
    remembered.chmod(0o622)
    run = run_acp("push", "diff", "--last", BINDING, str(work), env=api_env)
    assert run.code == 2
    assert "cannot trust" in run.stderr


@pytest.mark.parametrize(
    "cut",
    [
        lambda text: text[: text.index(b"\n") + 1],  # the header alone: the plan lost
        lambda text: text[: len(text) // 2 + 40],  # the plan cut short
        lambda text: text[: text.index(b"\n") + 1] + b'{"files": 3}',  # JSON, not a plan
        lambda text: text[:20],  # the header cut short
        lambda text: b"",  # nothing
    ],
    ids=["header-only", "plan-cut", "not-a-plan", "header-cut", "empty"],
)
def test_a_remembered_plan_a_crash_cut_short_is_not_trusted_and_the_next_prepare_replaces_it(
    cut: Callable[[bytes], bytes], work: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    # It is written without an fsync: after a crash it may be anything short of whole.
    write_tree(work, {"a.txt": "one\n", "b.txt": "two\n"})
    args = ["push", "prepare", BINDING, "--dir", str(work)]
    assert run_acp(*args, env=api_env).code == 0
    [remembered] = list(sent_folder().iterdir())
    remembered.write_bytes(cut(remembered.read_bytes()))

    run = run_acp("push", "diff", "--last", BINDING, str(work), env=api_env)
    assert run.code == 2
    assert run.stdout == ""
    assert f"No plan was prepared here for {BINDING}" in run.stderr
    assert "cannot trust" in run.stderr
    assert f"acp push prepare {BINDING}" in run.stderr  # the hint, followed below

    code, out, err = run_on_terminal(args, api_env, columns=120)
    assert code == 0, err
    assert "Since the last" not in out + err  # nothing to compare with
    write_tree(work, {"c.txt": "three\n"})
    run = run_acp("push", "diff", "--last", BINDING, str(work), "--name-status", env=api_env)
    assert (run.code, run.stdout) == (1, "A\tc.txt\n"), run.stderr


def test_at_most_keep_plans_are_remembered_the_oldest_go_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("acp_cli.sent_plans.KEEP", 3)
    sent = SentPlans(tmp_path / "sent")
    for number in range(5):
        sent.remember("https://api.example.com", f"wb_{number}", b'{"files":[]}')
        path = sent.path("https://api.example.com", f"wb_{number}")
        os.utime(path, ns=(number * 10**9, number * 10**9))  # written in this order
    kept = [
        number
        for number in range(5)
        if sent.recall("https://api.example.com", f"wb_{number}") is not None
    ]
    assert kept == [2, 3, 4]
