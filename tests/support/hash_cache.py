"""Reading and writing hash cache files (``acp_cli.workspace.cache``) as another program
that knows the format would: to look at what acp recorded, and to forge a cache whose
checksums match."""

from __future__ import annotations

import hashlib
import itertools
from array import array
from pathlib import Path
from typing import Any

import orjson


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _size(key: str) -> int:
    """The size a key starts with; 0 for a key that does not (a forged one)."""
    size = key.partition(" ")[0]
    return int(size) if size.isdigit() else 0


def read_cache(cache_file: Path) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The cache file's header (after its checksum) and its sections, by name:
    ``{"files": {name: key}, "entries": {name: plan entry}, "verified": {name: "1"}}``
    (files and entries only where not empty; verified ``"1"`` or ``"0"``; the sizes
    section is the size in each key)."""
    line, body = cache_file.read_bytes().split(b"\n", 1)
    checksum, _, text = line.partition(b" ")
    assert checksum.decode() == _sha(text)
    header: dict[str, Any] = orjson.loads(text)
    assert header["body"] == _sha(body)
    names_end, entries_end, keys_end, verified_end, _ = itertools.accumulate(header["sections"])
    names = [name.decode() for name in body[:names_end].split(b"\0")]
    entries = body[names_end:entries_end].decode().split("\n")
    keys = body[entries_end:keys_end].decode().split("\n")
    verified = "".join(str(flag) for flag in body[keys_end:verified_end])
    sizes = array("q", body[verified_end:])
    assert list(sizes) == [_size(key) for key in keys]
    return header, {
        "files": {name: key for name, key in zip(names, keys, strict=True) if key},
        "entries": {name: entry for name, entry in zip(names, entries, strict=True) if entry},
        "verified": dict(zip(names, verified, strict=True)),
    }


def sealed_cache(head: dict[str, Any], body: dict[str, dict[str, str]]) -> bytes:
    """A cache file of this header and these sections (as ``read_cache`` gives them),
    with the checksums and lengths acp writes."""
    names = sorted({*body.get("files", {}), *body.get("entries", {}), *body.get("verified", {})})
    sections = (
        b"\0".join(name.encode() for name in names),
        "\n".join(body.get("entries", {}).get(name, "") for name in names).encode(),
        "\n".join(body.get("files", {}).get(name, "") for name in names).encode(),
        bytes(int(body.get("verified", {}).get(name, "0")) for name in names),
        array("q", [_size(body.get("files", {}).get(name, "")) for name in names]).tobytes(),
    )
    data = b"".join(sections)
    header = orjson.dumps(
        {
            **head,
            "body": _sha(data),
            "names": len(names),
            "sections": [len(section) for section in sections],
        }
    )
    return _sha(header).encode() + b" " + header + b"\n" + data
