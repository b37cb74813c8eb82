"""Reading and writing hash cache files (``acp_cli.workspace.cache``) as another program
that knows the format would: to look at what acp recorded, and to forge a cache whose
checksums match."""

from __future__ import annotations

import itertools
from array import array
from pathlib import Path
from typing import Any

import orjson

from acp_cli.workspace.cache import KEY_SIZE, NO_KEY
from acp_cli.workspace.hashing import KEY
from tests.support.built_plans import sha

Sections = dict[str, dict[str, Any]]


def read_cache(cache_file: Path) -> tuple[dict[str, Any], Sections]:
    """The cache file's header (after its checksum) and its sections, by name:
    ``{"files": {name: "<size> <mtime_ns> <ctime_ns> <inode> <device> <sha256>"},
    "entries": {name: plan entry}, "verified": {name: "1" or "0"}}`` (files and
    entries only where there is one)."""
    line, body = cache_file.read_bytes().split(b"\n", 1)
    checksum, _, text = line.partition(b" ")
    assert checksum.decode() == sha(text)
    header: dict[str, Any] = orjson.loads(text)
    assert header["body"] == sha(body)
    ends = list(itertools.accumulate(header["sections"]))
    names, entries, lengths, keys, verified = (
        body[start:end] for start, end in zip([0, *ends], ends, strict=False)
    )
    sizes = array("q", lengths)
    starts = list(itertools.accumulate(sizes, initial=0))
    files, planned = {}, {}
    listed = names.decode().split("\0") if names else []  # "" is no name, not one
    for at, name in enumerate(listed):
        key = keys[at * KEY_SIZE : (at + 1) * KEY_SIZE]
        if key != NO_KEY:
            files[name] = " ".join(map(str, KEY.unpack_from(key))) + " " + key[KEY.size :].hex()
        if sizes[at]:
            assert entries[starts[at + 1] - 1 : starts[at + 1]] == b","
            planned[name] = entries[starts[at] : starts[at + 1] - 1].decode()
    return header, {
        "files": files,
        "entries": planned,
        "verified": dict(zip(listed, map(str, verified), strict=True)),
    }


def sealed_cache(head: dict[str, Any], body: Sections) -> bytes:
    """A cache file of this header and these sections (as ``read_cache`` gives them; a
    key may be given as raw bytes too), with the checksums and lengths acp writes."""
    files, planned = body.get("files", {}), body.get("entries", {})
    verified = body.get("verified", {})
    names = sorted({*files, *planned, *verified})
    entries = [planned[name].encode() + b"," if name in planned else b"" for name in names]
    sections = (
        b"\0".join(name.encode() for name in names),
        b"".join(entries),
        array("q", map(len, entries)).tobytes(),
        b"".join(_key(files.get(name, NO_KEY)) for name in names),
        bytes(int(verified.get(name, "0")) for name in names),
    )
    data = b"".join(sections)
    header = orjson.dumps(
        {
            **head,
            "body": sha(data),
            "names": len(names),
            "sections": [len(section) for section in sections],
        }
    )
    return sha(header).encode() + b" " + header + b"\n" + data


def _key(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    *numbers, sha = key.split(" ")
    return KEY.pack(*map(int, numbers)) + bytes.fromhex(sha)
