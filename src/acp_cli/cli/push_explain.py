"""``acp push plan --explain PATH``: one line per path on why it is in the plan or not."""

from __future__ import annotations

from pathlib import Path

from acp_cli.cli.context import Invocation
from acp_cli.errors import UsageError


def explain_paths(
    here: Invocation,
    directory: Path,
    paths: list[str],
    excludes: list[str],
    *,
    cache: bool,
    output: Path | None,
) -> None:
    """Build the plan of ``directory`` as ``acp push plan`` would (quietly: the
    explanations name what is skipped) and print one line per path of ``paths``."""
    from acp_cli.workspace import build_plan
    from acp_cli.workspace.explain import explain

    if output is not None:
        raise UsageError(
            "--explain prints explanations, not a plan: -o has nothing to write.",
            hint="Give one of them.",
        )
    built = build_plan(directory, excludes=excludes, cache=cache, env=here.env)
    for line in explain(directory, paths, built, excludes=excludes, env=here.env):
        here.stdout.write(f"{line}\n")
