"""Reading what `acp_cli.build_plan` made: a plan's entries by path, and the SHA-256 of
a file's bytes as plans write it (the hash cache's file: `tests.support.hash_cache`)."""

from __future__ import annotations

import hashlib
from typing import Any

from acp_cli.workspace import BuiltPlan
from tests.support.git_oracle import plan_entries


def by_path(built: BuiltPlan) -> dict[str, dict[str, Any]]:
    """The entries of a built plan, by their path."""
    return {str(entry["path"]): entry for entry in plan_entries(built)}


def sha(data: bytes) -> str:
    """The hex SHA-256 of ``data``, as the plan and its cache write it."""
    return hashlib.sha256(data).hexdigest()
