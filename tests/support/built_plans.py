"""Reading what `acp_cli.build_plan` made: a plan's entries by path, and the hash cache
file it leaves (`read_cache`), or one written as acp writes it (`sealed_cache`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from acp_cli.workspace import BuiltPlan
from tests.support.git_oracle import plan_entries


def by_path(built: BuiltPlan) -> dict[str, dict[str, Any]]:
    """The entries of a built plan, by their path."""
    return {str(entry["path"]): entry for entry in plan_entries(built)}


def sha(data: bytes) -> str:
    """The hex SHA-256 of ``data``, as the plan and its cache write it."""
    return hashlib.sha256(data).hexdigest()


def read_cache(cache_file: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cache file's two lines: header (after its checksum) and files."""
    header, files = cache_file.read_bytes().splitlines()
    checksum, _, header = header.partition(b" ")
    assert checksum.decode() == sha(header)
    return orjson.loads(header), orjson.loads(files)


def sealed_cache(head: dict[str, Any], body: dict[str, Any]) -> bytes:
    """A cache file of these two lines, with the checksums acp writes: what another
    program that knows the format, not a corruption, would write."""
    files = orjson.dumps(body) + b"\n"
    header = orjson.dumps({**head, "body": sha(files)})
    return sha(header).encode() + b" " + header + b"\n" + files
