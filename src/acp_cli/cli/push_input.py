"""What ``acp push prepare`` is given to send: where the plan is read from, and the
metadata (``--metadata``, ``--meta``).

Everything here is local and checked before any network access, so bad input
is refused with exit code 2 and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import orjson

from acp_cli import strict_json
from acp_cli.errors import UsageError


def source_name(path: str) -> str:
    """How a plan or metadata path is named in messages."""
    return "standard input" if path == "-" else path


def plan_source(path: Path, stdin: IO[bytes]) -> Path | IO[bytes]:
    """The plan ``--plan PATH`` gives, as `acp_cli.client.sign_plan` reads it: standard
    input for ``-``, else the file."""
    return stdin if str(path) == "-" else path


def read_metadata(metadata_path: str | None, meta: Sequence[str], stdin: IO[bytes]) -> bytes | None:
    """The metadata object's JSON text: the ``--metadata`` file (``-``: stdin) with the
    ``--meta`` items merged in; None when neither is given."""
    document: bytes | None = None
    if metadata_path is not None:
        document = strict_json.read_source(metadata_path, stdin)
        strict_json.parse_object(document, source_name(metadata_path))  # as strict as the plan
    return merge_metadata(document, parse_meta(meta)) if meta else document


def merge_metadata(document: bytes | None, items: Mapping[str, bytes]) -> bytes:
    """The metadata object: the members of ``document`` with ``items`` added or replacing them.

    ``document`` is a metadata file already checked as one JSON object;
    ``items`` maps keys to the JSON text of their values (`parse_meta`). Every
    value keeps its own source text, so numbers reach the server as written.
    """
    members = dict(strict_json.object_members(document)) if document is not None else {}
    members.update(items)
    return (
        b"{" + b",".join(_json_string(key) + b":" + value for key, value in members.items()) + b"}"
    )


def parse_meta(items: Sequence[str]) -> dict[str, bytes]:
    """``--meta`` items, each key with its value's JSON text.

    ``key=value`` gives a string, ``key:=JSON`` a typed value, checked as
    strictly as the plan and kept as written. As in httpie, the first separator
    wins: ``a=b:=c`` sets ``a`` to ``"b:=c"``. A later item for the same key
    replaces an earlier one.
    """
    result: dict[str, bytes] = {}
    for item in items:
        eq = item.find("=")
        typed = item.find(":=")
        if eq < 0:
            raise UsageError(
                f"--meta {item!r} is not KEY=VALUE or KEY:=JSON.",
                hint="For example: --meta branch=main --meta attempt:=3",
            )
        if 0 <= typed < eq:
            key, text = item[:typed], item[typed + 2 :]
            strict_json.parse_value(text, f"--meta {key}")
            value = text.strip().encode("utf-8")
        else:
            key = item[:eq]
            value = _json_string(item[eq + 1 :], f"--meta {key}")
        if not key:
            raise UsageError(
                f"--meta {item!r} has an empty key.",
                hint="For example: --meta branch=main",
            )
        _json_string(key, f"--meta {key!r}")
        result[key] = value
    return result


def _json_string(text: str, source: str = "metadata") -> bytes:
    """``text`` as a JSON string; `UsageError` when it is not Unicode (a lone surrogate)."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        raise UsageError(
            f"{source} is not valid UTF-8 text.", hint="Give the value as UTF-8 text."
        ) from None
