"""What acp draws on a terminal: colour, whole values, and lines that wrap at word
boundaries at the terminal's width. In-process, with stdout and stderr on a
pseudo-terminal of a chosen size."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acp_cli.emulator import Emulator
from tests.support.cli_runner import BINDING, TOKEN
from tests.support.terminal import run_on_terminal


def test_terminal_shows_a_coloured_table_with_whole_values(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    code, drawn, _ = run_on_terminal(
        ["push", "prepare", BINDING, "--plan", str(plan_file)], api_env
    )
    assert code == 0
    [session] = emulator.sessions()
    assert "\x1b[" in drawn
    assert "New push session for binding" in drawn
    # The 71-character signature is not cut or folded at 80 columns.
    assert session["planSignature"] in drawn
    assert session["id"] in drawn
    assert TOKEN not in drawn


@pytest.mark.parametrize("switch", [["--no-color"], []])
def test_no_color_on_a_terminal_is_plain_text(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, switch: list[str]
) -> None:
    env = api_env if switch else {**api_env, "NO_COLOR": "1"}
    args = ["push", "prepare", BINDING, "--plan", str(plan_file), *switch]
    code, drawn, _ = run_on_terminal(args, env)
    assert code == 0
    assert "\x1b[" not in drawn
    assert "New push session for binding" in drawn
    assert f"Plan signature: {emulator.sessions()[0]['planSignature']}" in drawn


def words_intact(text: str, drawn: str) -> bool:
    """Whether every word of ``text`` appears whole in ``drawn`` (no word split across lines)."""
    drawn_words = set(drawn.split())
    return all(word in drawn_words for word in text.split())


@pytest.mark.parametrize("columns", [40, 60, 80, 100])
@pytest.mark.parametrize("reuse", [False, True])
@pytest.mark.parametrize("color", [True, False])
def test_headlines_wrap_at_word_boundaries(
    columns: int,
    reuse: bool,
    color: bool,
    make_emulator: Callable[..., Emulator],
    plan_file: Path,
) -> None:
    binding = "wb_0123456789_long_binding_name"
    emulator = make_emulator(tokens=[TOKEN])
    env = {"ACP_API_URL": emulator.url, "ACP_TOKEN": TOKEN, **({} if color else {"NO_COLOR": "1"})}
    args = ["push", "prepare", binding, "--plan", str(plan_file)]
    if reuse:
        assert run_on_terminal(args, env, columns=columns)[0] == 0
    code, drawn, _ = run_on_terminal(args, env, columns=columns)
    assert code == 0
    plain = _strip_escapes(drawn)
    headline_lines = plain.split("ID", 1)[0].splitlines()
    headline = " ".join(line.strip() for line in headline_lines)
    assert headline.startswith("Reused push session" if reuse else "New push session")
    assert words_intact(headline, plain)
    assert all(len(line) <= columns for line in headline_lines), plain


def test_messages_on_a_terminal_wrap_at_word_boundaries(
    make_emulator: Callable[..., Emulator], plan_file: Path
) -> None:
    emulator = make_emulator(tokens=[TOKEN])
    emulator.queue_fault(status=503, retry_after=1)
    env = {"ACP_API_URL": emulator.url, "ACP_TOKEN": TOKEN}
    args = ["push", "prepare", BINDING, "--plan", str(plan_file), "--meta", "a=b"]
    assert run_on_terminal(args, env, columns=50)[0] == 0
    code, _, said = run_on_terminal(args, env, columns=50)
    assert code == 0
    lines = said.splitlines()
    assert all(len(line) <= 50 for line in lines), said
    assert "The reused session keeps the metadata it was prepared with;" in " ".join(
        line.strip() for line in lines
    )


def _strip_escapes(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text)


# --- output forms: JSON and the plan on a terminal -------------------------------------


@pytest.mark.parametrize("columns", [40, 80, 120])
@pytest.mark.parametrize(
    "args",
    [
        ["push", "prepare", BINDING, "--json"],
        ["push", "prepare", BINDING, "-o", "json", "--dry-run"],
        ["auth", "status", "--json"],
        ["config", "list", "--json"],
    ],
    ids=" ".join,
)
def test_json_on_a_terminal_is_indented_and_the_same_document_as_on_a_pipe(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, args: list[str], columns: int
) -> None:
    import json

    from tests.support.cli_runner import run_acp

    if args[0] == "push":
        args = [*args, "--plan", str(plan_file)]
    code, drawn, _ = run_on_terminal(args, api_env, columns=columns)
    piped = run_acp(*args, env=api_env)
    assert code == piped.code == 0
    assert drawn.startswith("{\n  ")
    assert piped.stdout.count("\n") == 1  # compact: one line for programs
    assert json.loads(drawn) == json.loads(piped.stdout) or args[-1] != "--dry-run"


@pytest.mark.parametrize("columns", [40, 80, 120])
@pytest.mark.parametrize(
    "options", [[], ["--exclude", "*.log"], ["--no-cache", "--exclude", "b c"]], ids=str
)
def test_a_plan_is_not_written_onto_a_terminal_and_the_hint_works(
    tmp_path: Path, columns: int, options: list[str]
) -> None:
    import re
    import shlex

    from tests.support.cli_runner import run_acp

    folder = tmp_path / "w s"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "x.log").write_text("x")
    cache = tmp_path / "cache"
    env = {"ACP_CACHE_DIR": str(cache)}
    code, drawn, said = run_on_terminal(
        ["push", "plan", str(folder), *options], env, columns=columns
    )
    assert code == 2
    assert drawn == ""
    assert not cache.exists()  # refused before any file was hashed
    text = " ".join(said.split())
    assert "Error: The plan is JSON for a file or a program, not for a terminal" in text
    to_file, to_pipe = re.findall(r"`([^`]*)`", text)
    assert to_pipe.endswith(" | less")
    words = shlex.split(to_file)
    assert words[:3] == ["acp", "push", "plan"]
    assert words[-2:] == ["-o", "plan.json"]
    followed = run_acp(*words[1:-2], "-o", str(tmp_path / "plan.json"), env=env)
    assert followed.code == 0, followed.stderr
    listed = (tmp_path / "plan.json").read_text()
    assert '"a.txt"' in listed
    assert ('"x.log"' in listed) == ("*.log" not in options)
    code, drawn, _ = run_on_terminal(
        ["push", "plan", str(folder), "-o", str(tmp_path / "again.json")], env, columns=columns
    )
    assert (code, drawn) == (0, "")


# --- help at every width ---------------------------------------------------------------


def _commands() -> list[tuple[str, ...]]:
    """The path of every command and group of the tree, the root included."""
    import typer

    from acp_cli.cli.root import whole_tree

    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        ctx = typer.Context(command, info_name=path[-1] if path else "acp")
        for name in getattr(command, "list_commands", lambda _: [])(ctx):
            walk(command.get_command(ctx, name), (*path, name))

    walk(typer.main.get_command(whole_tree()), ())
    return found


def _command_of(path: tuple[str, ...]) -> Any:
    import typer

    from acp_cli.cli.root import whole_tree

    command: Any = typer.main.get_command(
        whole_tree()
    )  # a group, whose commands are groups or leaves
    for name in path:
        command = command.get_command(typer.Context(command), name)
    return command


@pytest.mark.parametrize("columns", [40, 80, 120])
@pytest.mark.parametrize("path", _commands(), ids=lambda path: " ".join(("acp", *path)))
def test_help_names_every_option_whole_and_keeps_examples_whole(
    path: tuple[str, ...], columns: int
) -> None:
    import re

    command = _command_of(path)
    code, drawn, _ = run_on_terminal([*path, "--help"], {}, columns=columns)
    assert code == 0
    lines = drawn.splitlines()
    for param in command.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", drawn), (name, drawn)
    assert "<str>" not in drawn
    assert "…" not in drawn  # nothing cut
    examples = [
        line
        for block in (command.epilog or "").split("\n\n")
        if block.startswith("\b\n")
        for line in block.splitlines()[1:]
    ]
    assert examples, "every command shows examples"
    for example in examples:  # as written, on lines of their own, never re-wrapped
        assert f"  {example}" in lines, (example, drawn)
    if columns >= 80:  # nothing wider than the terminal: the terminal breaks no line
        assert max(len(line) for line in lines) <= columns, drawn


@pytest.mark.parametrize("columns", [40, 80, 120])
def test_the_retry_paragraph_is_filled_without_a_stray_line_break(columns: int) -> None:
    _, drawn, _ = run_on_terminal(["push", "prepare", "--help"], {}, columns=columns)
    lines = drawn.splitlines()
    start = next(i for i, line in enumerate(lines) if "Failed attempts are retried" in line)
    paragraph = lines[start : lines.index("", start) if "" in lines[start:] else None]
    assert " ".join(line.strip() for line in paragraph).endswith("(up to 60 s).")
    width = min(columns, 80) - 2
    for line, following in itertools.pairwise(paragraph):
        # A line ends early only when the next word would not have fitted.
        assert len(line) + 1 + len(following.split()[0]) > width, paragraph


@pytest.mark.parametrize("command", ["acp auth status --json", "acp push prepare wb_123 --dir ."])
def test_long_examples_are_continued_before_an_option(command: str) -> None:
    from acp_cli.cli.options import EXAMPLE_WIDTH, epilog

    long = f"{command} --exclude '*.log' --save-plan sent.json --meta attempt:=3 -o id"
    [_, block] = epilog("Examples:", [long]).strip("\n").split("\n\n")
    lines = block.splitlines()[1:]
    assert len(lines) > 1
    assert all(len(line) <= EXAMPLE_WIDTH + 2 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert all(line.startswith("      -") for line in lines[1:])
    assert " ".join(line.strip().rstrip("\\").strip() for line in lines) == long
