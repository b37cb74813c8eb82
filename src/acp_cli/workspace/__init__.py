"""Plans from a workspace folder (SPEC section 8): git's file set, hashed fast.

    from acp_cli.workspace import build_plan
    built = build_plan("path/to/workspace")
    built.data        # plan format v1, RFC 8785 canonical bytes
    built.signature   # "sha256:..." of built.data

``listing`` asks git which files there are, ``describe`` stats and hashes them in
forked processes, ``cache`` remembers hashes between runs, ``own_files`` leaves out
acp's own outputs, ``build`` puts it together.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: every `acp push` imports this package first
# (``acp_cli.workspace.early``), and git starts only after it: typing would delay it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from acp_cli.workspace.build import BuiltPlan, PlanProgress, SkippedPath, build_plan

__all__ = ["BuiltPlan", "PlanProgress", "SkippedPath", "build_plan"]


def __getattr__(name: str) -> Any:
    """The names of ``build`` load on first use: ``acp_cli.workspace.early`` is imported
    by every ``acp push`` run, before acp knows whether it plans a folder at all."""
    if name in __all__:
        from acp_cli.workspace import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
