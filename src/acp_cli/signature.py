"""The plan signature, and its fast reading of large plans.

    planSignature = "sha256:" + hex(SHA-256(JCS(plan)))

The canonical form (JCS, RFC 8785) is `acp_cli.jcs`; ``canonical_json`` is
also importable from here.

A large plan is not parsed into one tree: ``sign_plan_bytes`` cuts its
biggest array of objects into chunks of about 64 KiB, parses and canonicalizes
them one at a time, and checks that every piece parses, so the pieces provably
make up the document. The chunks are hashed as they come (the array's end is
found first from its last cut), so memory stays near the file size instead of
seven times it, and millions of Python objects are never alive at once. Any
other shape of document is read in one piece.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import orjson

from acp_cli import strict_json
from acp_cli.errors import UsageError
from acp_cli.jcs import (
    ORJSON_SORTED,
    canonical_json,
    canonical_python,
    canonical_valid,
    finish_sorted,
)

__all__ = ["canonical_json", "canonical_signature", "plan_signature", "sign_plan_bytes"]

_ORJSON_MAX_DEPTH = 254  # orjson.dumps refuses deeper values
_CLOSE_BRACE = ord("}")
_OPEN_BRACKET = ord("[")
_CLOSE_BRACKET = ord("]")
_OPENERS = b"[{"
_CLOSERS = b"]}"

# Chunked signing of large plans (``sign_plan_bytes``).
_CHUNK = 1 << 16  # bytes per parsed chunk: small enough to stay in cache
_MIN_CHUNKED = 1 << 20  # below this one parse is as fast and simpler
_MAX_SCAN = 1 << 20  # bytes the Python token scan may cover before giving up on chunks
_RETRIES = 8  # further cut points to try when a cut falls in a nested array
_WS = rb"[ \t\n\r]*"
# Between two objects of an array: "}, {" and the next object's first key.
_CUT = re.compile(rb"\}" + _WS + rb"," + _WS + rb"\{" + _WS + rb'"(?:[^"\\]|\\.)*"' + _WS + b":")
_SCAN_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def plan_signature(plan: dict[str, Any]) -> str:
    """``sha256:`` and the lowercase hex SHA-256 of the plan's canonical JSON."""
    return canonical_signature(canonical_json(plan))


def canonical_signature(canonical: bytes) -> str:
    """The plan signature of bytes already in RFC 8785 canonical form: no parse, one hash."""
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def sign_plan_bytes(data: bytes, source: str) -> str:
    """Check ``data`` strictly as ``strict_json.parse_object`` does and return its plan signature.

    Same result and same ``UsageError`` as
    ``plan_signature(strict_json.parse_object(data, source))``, but a large plan is
    processed in chunks: a few times the cost of hashing the file, and
    memory near its size. The parsed plan is not returned; send ``data``
    itself.
    """
    digest = _chunked_digest(data, source) if len(data) >= _MIN_CHUNKED else None
    if digest is None:
        return canonical_signature(canonical_valid(strict_json.parse_object(data, source)))
    return "sha256:" + digest


def _depth(value: Any) -> int:
    """Nesting depth: 0 for a scalar, 1 for ``[]``, 2 for ``[[]]``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


# --- chunked signing of large plans -------------------------------------------


def _chunked_digest(data: bytes, source: str) -> str | None:
    """SHA-256 hex of the JCS form of ``data``, processed in chunks; None to use one parse.

    The plan's largest array of objects (found near the middle of the file)
    is cut between elements: ``head [ chunk, chunk, ... ] tail``. Each chunk
    is parsed as ``[chunk]`` and the rest as ``head ["placeholder"] tail``.
    Parsing starts at a verified element start; a chunk that parses ends after
    a whole element, so the next one starts at one too, and the document is
    exactly the pieces put together. Whenever a piece does not parse or
    anything is unusual, this returns None and the caller parses the whole
    document, which gives the exact error message or the same result.

    A duplicate key inside an element is reported from here, located in its
    chunk: the whole-document search would take seconds on a large plan. It is
    reported only once every piece has parsed and the rest has none, so the
    error is the one the whole-document parse would give.
    """
    middle = _CUT.search(data, len(data) // 2)
    if middle is None:
        return None
    cut = middle.group()
    comma = cut.index(b",")
    array = _find_array(data, cut)
    if array is None:
        return None
    array_open, array_depth = array
    if array_depth + _ORJSON_MAX_DEPTH - 1 > strict_json.MAX_DEPTH:
        # Elements that orjson writes could then exceed the document's nesting
        # limit unnoticed (deeper ones are measured): read the whole document.
        return None

    # With the array's end known first (from the last cut), chunks are hashed
    # as they come and no copy of the canonical form is kept; otherwise they
    # are kept until the loop has found the end.
    guessed_close = _array_close_after(data, data.rfind(cut) + comma + 1)
    frame = None
    if guessed_close is not None:
        frame = _canonical_frame(data, array_open, guessed_close)
    digest = None if frame is None else hashlib.sha256(frame[0])
    kept: list[memoryview] = []

    elements = 0  # in the chunks so far
    duplicate: tuple[int, int, int] | None = None  # first chunk with one: start, end, elements
    start: int | None = array_open + 1  # None after the last chunk, which sets array_close
    next_start: int | None
    view = memoryview(data)
    while start is not None:
        chunk = None
        cut_at = data.find(cut, start + _CHUNK)
        for _attempt in range(_RETRIES):
            if cut_at == -1:
                break
            end = cut_at + 1  # just after the "}" that ends the chunk's last element
            chunk = _canonical_chunk(view[start:end], array_depth)
            if chunk is not None:
                next_start = end + comma
                break
            # The cut may have fallen between the objects of a nested array.
            cut_at = data.find(cut, cut_at + len(cut))
        if chunk is None:
            if cut_at != -1:
                return None  # no cut point that works: not a plain array of objects
            # No cut left: the array's last elements, up to its "]".
            close = _array_close_after(data, start)
            if close is None:
                return None
            array_close = end = close
            next_start = None
            chunk = _canonical_chunk(view[start:end], array_depth)
            if chunk is None:
                return None
        canonical, count, has_duplicate = chunk
        if has_duplicate and duplicate is None:
            duplicate = (start, end, elements)
        inner = memoryview(canonical)[1:-1]  # the elements, without "[" and "]"
        if digest is None:
            kept.append(inner)
        else:
            if elements:
                digest.update(b",")
            digest.update(inner)
        elements += count
        start = next_start

    # digest is None exactly when frame is: the second test is for the type checker.
    if digest is None or frame is None:  # pragma: no mutate
        frame = _canonical_frame(data, array_open, array_close)
        if frame is None:
            return None
        digest = hashlib.sha256(frame[0])
        for index, inner in enumerate(kept):
            if index:
                digest.update(b",")
            digest.update(inner)
    elif array_close != guessed_close:
        return None  # the frame hashed first was not this array's
    if duplicate is not None:
        raise _located_duplicate(data, array_open, *duplicate, source)
    digest.update(frame[1])
    return digest.hexdigest()


def _canonical_chunk(raw: memoryview, array_depth: int) -> tuple[bytes, int, bool] | None:
    """JCS of ``[raw]``, its number of elements and whether a key repeats in them.

    None unless ``raw`` is one or more whole, strictly valid elements.
    """
    piece = b"".join((b"[", raw, b"]"))
    try:
        elements = orjson.loads(piece)
    except orjson.JSONDecodeError:
        return None
    if not elements:
        return None
    try:
        out = orjson.dumps(elements, option=ORJSON_SORTED)
    except orjson.JSONEncodeError:
        # Deep nesting: keep the whole-document limit, which a chunk alone does not see.
        if array_depth + _depth(elements) - 1 > strict_json.MAX_DEPTH:
            return None
        out = canonical_python(elements)
        quotes = strict_json.structural_quote_count(out)
    else:
        out, quotes = finish_sorted(out, elements)
    return out, len(elements), strict_json.structural_quote_count(piece) != quotes


def _located_duplicate(
    data: bytes, array_open: int, start: int, end: int, elements_before: int, source: str
) -> UsageError:
    """The duplicate-key error for the chunk ``data[start:end]``, placed in the document."""
    # The scan stops at the duplicate, before the "]": the same without it (CONTRIBUTING).
    elements = b"".join((b"[", data[start:end], b"]"))  # pragma: no mutate
    found = strict_json.find_duplicate_key(elements)
    assert found is not None  # the string counts say there is one
    index, *inside = found.path  # the first step is the element's index in the chunk
    path = (*strict_json.json_path_after(data[:array_open]), elements_before + int(index), *inside)
    before = data[:start]  # copied once, for an error
    line = before.count(b"\n") + found.line
    column = found.column
    if found.line == 1:  # on the chunk's first line, after the "[" put before it
        column += len(before[before.rfind(b"\n") + 1 :].decode("utf-8")) - 1
    return strict_json.duplicate_key_error(
        strict_json.DuplicateKey(found.key, path, line, column), source
    )


def _canonical_frame(data: bytes, array_open: int, array_close: int) -> tuple[bytes, bytes] | None:
    """JCS of the document around the chunked array, split where the array goes."""
    token = b'"acp-chunked-array-' + os.urandom(16).hex().encode() + b'"'
    frame = b"".join((data[: array_open + 1], token, data[array_close:]))
    try:
        value = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    out = canonical_valid(value)
    if strict_json.structural_quote_count(frame) != strict_json.structural_quote_count(out):
        return None
    parts = out.split(b"[" + token + b"]")
    if len(parts) != 2:
        return None
    head, tail = parts
    return head + b"[", b"]" + tail


def _find_array(data: bytes, cut: bytes) -> tuple[int, int] | None:
    """Where the array that ``cut`` separates the elements of opens, and its depth.

    A Python token scan from the start of the document to ``_CHUNK`` bytes past
    the first cut; of the arrays whose elements a cut separates there, the
    shallowest is taken, so that the cut between two nested objects of an
    element does not pass for the plan's array. Gives up past ``_MAX_SCAN``.
    """
    first = data.find(cut)  # found: the caller found ``cut`` in the second half
    if first > _MAX_SCAN:
        return None
    best: tuple[int, int] | None = None
    opened: list[int] = []
    for match in _SCAN_TOKEN.finditer(data):
        at = match.start()
        if at > first + _CHUNK:
            break
        token = data[at]
        if token in _OPENERS:
            opened.append(at)
        elif token in _CLOSERS:
            if not opened or data[opened.pop()] != token - 2:  # "[" + 2 == "]"
                return None
            if (
                token == _CLOSE_BRACE
                and opened
                and data[opened[-1]] == _OPEN_BRACKET
                and data.startswith(cut, at)
                and (best is None or len(opened) < best[1])
            ):
                best = opened[-1], len(opened)
    return best


def _array_close_after(data: bytes, start: int) -> int | None:
    """Position of the ``]`` closing the array whose element starts at ``start``."""
    depth = 0
    for match in _SCAN_TOKEN.finditer(data, start):
        at = match.start()
        if at - start > _MAX_SCAN:
            return None
        token = data[at]
        if token in _OPENERS:
            depth += 1
        elif token in _CLOSERS:
            if depth == 0:
                # A "}" (a broken document) would make a frame that does not parse:
                # equivalent without the test (CONTRIBUTING), kept to say so here.
                return at if token == _CLOSE_BRACKET else None  # pragma: no mutate
            depth -= 1
    return None
