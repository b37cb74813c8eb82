"""Commands answered before the command tree loads: ``acp --version`` and
``acp config profiles``, which shell completion runs on every Tab.

Typer and the tree it builds are most of a run's start-up, and neither command needs
them: `acp_cli.cli.boundary` answers these exact command lines with `ANSWERS`. The tree
declares the same commands with the same functions (``acp config profiles --help``,
``acp --version`` after a global option, ...), so both ways print the same.
Nothing here imports more than these answers need.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from acp_cli.cli.context import Invocation


def version_line() -> str:
    """What ``acp --version`` prints: ``acp 0.2.0 (Python 3.11.7; Linux x86_64)``.

    The first two words are the name and version, for scripts; the rest says
    which Python and platform run it, for bug reports.
    """
    import platform

    from acp_cli import __version__

    return (
        f"acp {__version__} (Python {platform.python_version()}; "
        f"{platform.system()} {platform.machine()})\n"
    )


def write_version(here: Invocation) -> None:
    """``acp --version``."""
    here.stdout.write(version_line())


def write_profile_names(here: Invocation) -> None:
    """``acp config profiles``: the names of config.toml's profiles, one per line (those
    that fit on one)."""
    from acp_cli.settings import profile_names

    names = profile_names(here.config)
    here.stdout.write("".join(f"{name}\n" for name in names if name.isprintable()))


ANSWERS: dict[tuple[str, ...], Callable[[Invocation], None]] = {
    ("--version",): write_version,
    ("config", "profiles"): write_profile_names,
}
"""The command lines (acp's arguments) answered without the tree, and their answers."""
