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

from acp_cli.workspace.build import BuiltPlan, PlanProgress, SkippedPath, build_plan

__all__ = ["BuiltPlan", "PlanProgress", "SkippedPath", "build_plan"]
