"""``acp completion SHELL``: print the completion script for a shell.

The scripts are package data (acp_cli/completions/, written by `make docs`),
and the wheel installs the same files under share/ for bash, zsh and fish: what
this command prints is byte for byte what a package manager's install loads.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from acp_cli.cli.context import Invocation
from acp_cli.cli.options import epilog

SCRIPTS = {"bash": "acp", "zsh": "_acp", "fish": "acp.fish", "powershell": "acp.ps1"}
"""Each shell's script, by its file name in acp_cli/completions/."""

Shell = Literal["bash", "zsh", "fish", "powershell"]

EPILOG = epilog(
    "Examples:",
    [
        "source <(acp completion bash)  # in ~/.bashrc",
        "source <(acp completion zsh)  # in ~/.zshrc, after compinit",
        "acp completion fish > ~/.config/fish/completions/acp.fish",
        "acp completion powershell | Out-String | Invoke-Expression  # in $PROFILE",
    ],
)


def completion(
    here: Invocation,
    shell: Annotated[
        Shell,
        typer.Argument(
            metavar="SHELL", help="The shell: bash, zsh, fish or powershell.", show_default=False
        ),
    ],
) -> None:
    """Print the completion script for a shell.

    Load it from the shell's start-up file (see the examples), or save it where
    the shell loads completions. Pressing Tab runs no Python: only profile names
    are looked up, with `acp config profiles`.
    """
    from importlib.resources import files

    script = (files("acp_cli") / "completions" / SCRIPTS[shell]).read_bytes()
    here.stdout.write(script.decode("utf-8"))
