"""Write acp's shell completions and man page from the live command tree.

    python -m tools.gen_docs [FOLDER]      (what `make docs` runs)

FOLDER defaults to the repository root; the files go to FOLDER/src/acp_cli/completions/
and FOLDER/man/. The output depends only on the code: no clock, no machine, so
`tests/project/test_docs.py` can regenerate it and compare byte for byte.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from acp_cli.cli.completion import SCRIPTS
from tools.command_tree import Command, read_tree
from tools.completion_scripts import bash_script, fish_script, powershell_script, zsh_script
from tools.man_page import man_page

REPO = Path(__file__).resolve().parent.parent

COMPLETIONS = "src/acp_cli/completions"
"""The completion scripts' folder: package data that `acp completion SHELL` prints,
and the files the wheel installs under share/ (pyproject.toml), one copy of each."""

OUTPUTS: dict[str, Callable[[Command], str]] = {
    f"{COMPLETIONS}/{SCRIPTS['bash']}": bash_script,
    f"{COMPLETIONS}/{SCRIPTS['zsh']}": zsh_script,
    f"{COMPLETIONS}/{SCRIPTS['fish']}": fish_script,
    f"{COMPLETIONS}/{SCRIPTS['powershell']}": powershell_script,
    "man/acp.1": man_page,
}
"""Each generated file, relative to the repository root, and what renders it."""


def render_all() -> dict[str, str]:
    """The text of every generated file, by its path relative to the repository root."""
    from acp_cli.cli.root import whole_tree

    tree = read_tree(whole_tree())
    return {path: render(tree) for path, render in OUTPUTS.items()}


def write_all(folder: Path) -> list[Path]:
    """Write every generated file under ``folder``; return the paths written."""
    written = []
    for relative, text in render_all().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))  # bytes: "\n" line ends on every platform
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    """Write the files under the folder given in ``argv`` (default: the repository root)."""
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        sys.stderr.write(__doc__ or "")
        return 2
    folder = Path(argv[0]) if argv else REPO
    for path in write_all(folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
