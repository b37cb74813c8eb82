"""What a push sends: the plan's bytes, its signature, and the metadata.

Everything here is local and checked before any network access, so bad input
is refused with exit code 2 and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from acp_cli import plan
from acp_cli.errors import UsageError
from acp_cli.signature import sign_plan_bytes


@dataclass(frozen=True)
class PushInput:
    """A validated plan with its signature, and the metadata to send with it."""

    plan_json: bytes = field(repr=False)
    """The plan file's bytes, sent unchanged."""
    signature: str
    metadata: dict[str, Any] | None


def source_name(path: str) -> str:
    """How a plan or metadata path is named in messages."""
    return "standard input" if path == "-" else path


def read_plan(path: str, stdin: IO[bytes]) -> tuple[bytes, str]:
    """Read and strictly check the plan at ``path`` (``-``: stdin); return bytes and signature."""
    data = plan.read_source(path, stdin)
    return data, sign_plan_bytes(data, source_name(path))


def read_push_input(
    *,
    plan_path: str,
    metadata_path: str | None,
    meta: Sequence[str],
    stdin: IO[bytes],
) -> PushInput:
    """Read the plan and the metadata named on the command line."""
    if plan_path == "-" and metadata_path == "-":
        raise UsageError(
            "--plan and --metadata cannot both read standard input.",
            hint="Give one of them as a file.",
        )
    data, signature = read_plan(plan_path, stdin)
    metadata: dict[str, Any] | None = None
    if metadata_path is not None:
        raw = plan.read_source(metadata_path, stdin)
        metadata = plan.parse_object(raw, source_name(metadata_path))
    if meta:
        metadata = {**(metadata or {}), **parse_meta(meta)}
    return PushInput(data, signature, metadata)


def parse_meta(items: Sequence[str]) -> dict[str, Any]:
    """``--meta`` items: ``key=value`` for a string, ``key:=JSON`` for a typed value.

    As in httpie, the first separator wins: ``a=b:=c`` sets ``a`` to ``"b:=c"``.
    A later item for the same key replaces an earlier one.
    """
    result: dict[str, Any] = {}
    for item in items:
        eq = item.find("=")
        typed = item.find(":=")
        if eq < 0:
            raise UsageError(
                f"--meta {item!r} is not KEY=VALUE or KEY:=JSON.",
                hint="For example: --meta branch=main --meta attempt:=3",
            )
        if 0 <= typed < eq:
            key, value = item[:typed], plan.parse_value(item[typed + 2 :], f"--meta {key_of(item)}")
        else:
            key, value = item[:eq], item[eq + 1 :]
        if not key:
            raise UsageError(
                f"--meta {item!r} has an empty key.",
                hint="For example: --meta branch=main",
            )
        result[key] = value
    return result


def key_of(item: str) -> str:
    """The key part of a ``--meta`` item, for messages."""
    return item.split(":=", 1)[0]
