"""RFC 8785 (JSON Canonicalization Scheme) and the plan signature.

    planSignature = "sha256:" + hex(SHA-256(JCS(plan)))

JCS writes a JSON value with no whitespace, object keys sorted by their UTF-16
code units, strings with the minimal escaping (``\\"``, ``\\\\``, ``\\b``,
``\\f``, ``\\n``, ``\\r``, ``\\t``, other controls as ``\\u00xx``; everything
else as UTF-8), and numbers as ECMAScript's ``Number.prototype.toString``
writes doubles (shortest digits that round-trip; ``1e+21`` but
``100000000000000000000``, ``1e-7`` but ``0.000001``, ``-0`` as ``0``;
integers beyond 2^53 as the nearest double).

How it is fast. orjson parses and writes sorted JSON at C speed, and already
writes strings exactly as JCS does and numbers with the same shortest digits.
It differs from JCS in exactly three places, each handled only where it occurs:

1. Float notation. orjson writes ``100.0``/``-0.0`` for integral floats,
   exponents from 1e16 (ES: from 1e21) and down to 1e-6 (ES: from 1e-7). The
   few number tokens that can differ are found by regular expressions over
   the output and rewritten (``_fix_numbers``).
2. Integers of magnitude 2^53 and beyond, which JCS writes as the nearest
   double. ``OPT_STRICT_INTEGER`` makes orjson refuse them, and the value is then
   written by the exact pure-Python writer (``_canonical_python``).
3. Key order. orjson sorts by code point, JCS by UTF-16 code unit; the two
   disagree only when one key has a character above U+FFFF where another has
   one in U+E000-U+FFFF. Such characters are found in the output by memchr on
   their UTF-8 lead bytes; only when one is in a key are the objects' key
   orders compared, and the pure-Python writer takes over if one differs.

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
import math
import os
import re
from typing import Any

import orjson

from acp_cli import plan as plan_reader
from acp_cli.errors import UsageError

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_ORJSON_MAX_DEPTH = 254  # orjson.dumps refuses deeper values
_SAFE_INTEGER = 2**53  # beyond this magnitude JCS writes an integer as the nearest double

# orjson float tokens that ECMAScript writes differently, matched at their end.
# A number token is always followed by , ] } or the end of the text.
_INTEGRAL_FLOAT = re.compile(rb"\.0(?=[,\]}]|\Z)")  # 100.0, -0.0
_BIG_EXPONENT = re.compile(rb"e\+(?:1[6-9]|20)(?=[,\]}]|\Z)")  # 1e+16 .. 1.2e+20
# Matched without its "e" (checked after): a one-byte prefix scans twice as fast.
_SMALL_EXPONENT = re.compile(rb"-6(?=[,\]}]|\Z)")  # 1.5e-6
_E = ord("e")
_ASTRAL_LEAD_BYTES = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
_BACKSLASH = ord("\\")
_CLOSE_BRACE = ord("}")
_OPEN_BRACKET = ord("[")

# Chunked signing of large plans (``sign_plan_bytes``).
_CHUNK = 1 << 16  # bytes per parsed chunk: small enough to stay in cache
_MIN_CHUNKED = 1 << 20  # below this one parse is as fast and simpler
_MAX_SCAN = 1 << 20  # bytes the Python token scan may cover before giving up on chunks
_RETRIES = 8  # further cut points to try when a cut falls in a nested array
_WS = rb"[ \t\n\r]*"
# Between two objects of an array: "}, {" and the next object's first key.
_CUT = re.compile(rb"\}" + _WS + rb"," + _WS + rb"\{" + _WS + rb'"(?:[^"\\]|\\.)*"' + _WS + b":")
_SCAN_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    ``value`` is made of ``dict`` (``str`` keys), ``list``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``. Raises ``TypeError`` for anything else and
    ``ValueError`` for what has no canonical form: NaN or an infinity, a number
    beyond the double range, a lone surrogate in a string, nesting deeper than
    1024 levels (or a cycle).
    """
    _check_json_value(value)
    return _canonical(value)


def plan_signature(plan: dict[str, Any]) -> str:
    """``sha256:`` and the lowercase hex SHA-256 of the plan's canonical JSON."""
    return canonical_signature(canonical_json(plan))


def canonical_signature(canonical: bytes) -> str:
    """The plan signature of bytes already in RFC 8785 canonical form: no parse, one hash."""
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def sign_plan_bytes(data: bytes, source: str) -> str:
    """Check ``data`` strictly as ``plan.parse_object`` does and return its plan signature.

    Same result and same ``UsageError`` as
    ``plan_signature(plan.parse_object(data, source))``, but a large plan is
    processed in chunks: a few times the cost of hashing the file, and
    memory near its size. The parsed plan is not returned; send ``data``
    itself.
    """
    digest = _chunked_digest(data, source) if len(data) >= _MIN_CHUNKED else None
    if digest is None:
        return canonical_signature(_canonical(plan_reader.parse_object(data, source)))
    return "sha256:" + digest


# --- canonical form ----------------------------------------------------------


def _canonical(value: Any) -> bytes:
    """JCS bytes of a value already known to be valid JSON (from the strict parser)."""
    try:
        out = orjson.dumps(value, option=_SORTED)
    except orjson.JSONEncodeError:
        # An integer of 2^53 or beyond, or nesting past orjson's 254 levels.
        return _canonical_python(value)
    return _finish(out, value)[0]


def _finish(out: bytes, value: Any) -> tuple[bytes, int]:
    """Turn orjson's sorted output for ``value`` into JCS (see the module docstring).

    Also returns the number of quotes that delimit strings in it, which the
    duplicate-key check needs and the number fixing counts anyway.
    """
    if not out.isascii() and _astral_in_keys(out) and _utf16_order_differs(value):
        canonical = _canonical_python(value)
        return canonical, plan_reader.structural_quote_count(canonical)
    return _fix_numbers(out)


def _astral_in_keys(out: bytes) -> bool:
    """Whether a key in orjson's output holds a character above U+FFFF.

    Such characters are 4-byte UTF-8 sequences, found by memchr on their lead
    bytes; each is in a key when its string is followed by ":" (orjson writes
    no spaces). Characters above U+FFFF in values (an emoji in a file name)
    thus cost a few C calls each, not a walk over the parsed objects.
    """
    for lead in _ASTRAL_LEAD_BYTES:
        at = out.find(lead)
        while at >= 0:
            end = _string_end(out, at)
            if out[end + 1 : end + 2] == b":":
                return True
            at = out.find(lead, end)
    return False


def _string_end(out: bytes, inside: int) -> int:
    """Position of the quote that closes the string holding position ``inside``."""
    quote = out.find(b'"', inside)
    while quote > 0 and out[quote - 1] == _BACKSLASH:
        # Escaped when an odd number of backslashes precede it.
        run = quote - 1
        while out[run - 1] == _BACKSLASH:
            run -= 1
        if (quote - run) % 2 == 0:
            break
        quote = out.find(b'"', quote + 1)
    return quote


def _utf16_order_differs(value: Any) -> bool:
    """Whether some object's keys sort differently by UTF-16 code units than by code points."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if len(item) > 1 and any(not k.isascii() and max(k) > "\uffff" for k in item):
                by_code_point = sorted(item)
                if by_code_point != sorted(by_code_point, key=_utf16_key):
                    return True
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return False


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare as the sequence of code units does.
    return key.encode("utf-16-be")


def _fix_numbers(out: bytes) -> tuple[bytes, int]:
    """Rewrite the float tokens that orjson and ECMAScript write differently.

    Candidates are found by regular expression (C speed) and kept only when
    they lie outside strings, which an even number of string quotes before
    them proves. Returns the JCS text and its number of string quotes.
    """
    ends = [m.end() for m in _INTEGRAL_FLOAT.finditer(out)]
    if b"+" in out:  # a memchr: "+" is rare outside exponents
        ends += [m.end() for m in _BIG_EXPONENT.finditer(out)]
    if b"-" in out:
        ends += [
            m.end() for m in _SMALL_EXPONENT.finditer(out) if m.start() and out[m.start() - 1] == _E
        ]
    quotes_text = out
    if b"\\" in out:
        # Same length, with escaped backslashes and escaped quotes blanked out,
        # so that every '"' left opens or closes a string.
        quotes_text = out.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    if not ends:
        return out, quotes_text.count(b'"')
    ends.sort()
    pieces: list[bytes] = []
    done = 0  # output copied up to here
    counted = 0  # quotes counted up to here
    quotes = 0
    for end in ends:
        quotes += quotes_text.count(b'"', counted, end)
        counted = end
        if quotes % 2:  # inside a string
            continue
        # The token starts after the ":", "," or "[" before it (orjson writes no spaces).
        window = max(0, end - 32)
        start = 1 + max(out.rfind(b":", window, end), out.rfind(b",", window, end))
        start = max(start, 1 + out.rfind(b"[", window, end))
        pieces.append(out[done:start])
        if out[end - 2 : end] == b".0":
            # orjson writes "X.0" only below 1e16, where a double's integer
            # digits are its shortest digits: ES writes "X" ("-0" as "0").
            integer = out[start : end - 2]
            pieces.append(b"0" if integer == b"-0" else integer)
        else:
            pieces.append(_es_number(float(out[start:end])).encode())
        done = end
    quotes += quotes_text.count(b'"', counted)
    pieces.append(out[done:])
    return b"".join(pieces), quotes


def _es_number(x: float) -> str:
    """ECMAScript ``Number.prototype.toString`` for a finite double (RFC 8785, 3.2.2.3).

    Python's ``repr`` gives the same shortest round-trip digits; only the
    notation differs, and is rebuilt here from those digits.
    """
    if x == 0:
        return "0"  # also -0
    text = repr(x)
    sign = ""
    if text.startswith("-"):
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    integer, _, fraction = mantissa.partition(".")
    digits = integer + fraction
    stripped = digits.lstrip("0")
    # x = 0.DIGITS * 10**n, DIGITS without leading or trailing zeros.
    n = len(integer) + (int(exponent) if exponent else 0) - (len(digits) - len(stripped))
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        e = n - 1
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-")
        body += str(abs(e))
    return sign + body


def _canonical_python(value: Any) -> bytes:
    """JCS in plain Python: exact for every valid value, at any depth, but slow.

    Used where orjson cannot be (integers beyond 2^53, nesting beyond its 254
    levels, objects whose key order differs in UTF-16). Strings still go
    through orjson, whose escaping is JCS's.
    """
    parts: list[bytes] = []
    # A work stack of values to write, and bytes (punctuation) to copy as they are.
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is bytes:
            parts.append(item)
        elif isinstance(item, dict):
            keyed = sorted(item.items(), key=lambda pair: _utf16_key_checked(pair[0]))
            stack.append(b"}")
            for index in range(len(keyed) - 1, -1, -1):
                key, child = keyed[index]
                stack.append(child)
                stack.append(_string(key) + b":")
                if index:
                    stack.append(b",")
            stack.append(b"{")
        elif isinstance(item, list):
            stack.append(b"]")
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(b",")
            stack.append(b"[")
        elif isinstance(item, str):
            parts.append(_string(item))
        elif item is True:
            parts.append(b"true")
        elif item is False:
            parts.append(b"false")
        elif item is None:
            parts.append(b"null")
        elif isinstance(item, int):
            if -_SAFE_INTEGER < item < _SAFE_INTEGER:
                parts.append(str(item).encode())
            else:
                parts.append(_es_number(_to_double(item)).encode())
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{item} has no JSON form")
            parts.append(_es_number(item).encode())
        else:
            raise TypeError(f"{type(item).__name__} is not a JSON value")
    return b"".join(parts)


def _to_double(value: int) -> float:
    try:
        return float(value)  # correctly rounded to the nearest double
    except OverflowError:
        raise ValueError(f"integer with {len(str(value))} digits overflows a double") from None


def _string(text: str) -> bytes:
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        raise ValueError(f"string {text!r} holds a lone surrogate") from None


def _utf16_key_checked(key: Any) -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"object key {key!r} is not a string")
    try:
        return _utf16_key(key)
    except UnicodeEncodeError:
        raise ValueError(f"object key {key!r} holds a lone surrogate") from None


def _check_json_value(value: Any) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is plain, finite JSON data."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if depth >= plan_reader.MAX_DEPTH:
                raise ValueError(f"nested deeper than {plan_reader.MAX_DEPTH} levels (or a cycle)")
            if kind is dict:
                for key in item:
                    if type(key) is not str:
                        raise TypeError(f"object key {key!r} is not a string")
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        elif kind is float:
            if not math.isfinite(item):
                raise ValueError(f"{item} has no JSON form")
        elif kind is int:
            if not -_SAFE_INTEGER < item < _SAFE_INTEGER:
                _to_double(item)
        elif kind not in (str, bool, type(None)):
            raise TypeError(f"{kind.__name__} is not a JSON value")


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
    if array_depth + _ORJSON_MAX_DEPTH - 1 > plan_reader.MAX_DEPTH:
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
    start = array_open + 1
    array_close = -1
    view = memoryview(data)
    while start >= 0:
        chunk = None
        cut_at = data.find(cut, start + _CHUNK)
        for _attempt in range(_RETRIES):
            if cut_at < 0:
                break
            end = cut_at + 1  # just after the "}" that ends the chunk's last element
            chunk = _canonical_chunk(view[start:end], array_depth)
            if chunk is not None:
                next_start = end + comma
                break
            # The cut may have fallen between the objects of a nested array.
            cut_at = data.find(cut, cut_at + 1)
        if chunk is None:
            if cut_at >= 0:
                return None  # no cut point that works: not a plain array of objects
            # No cut left: the array's last elements, up to its "]".
            close = _array_close_after(data, start)
            if close is None:
                return None
            array_close = end = close
            next_start = -1
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

    if digest is None or frame is None:
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
        out = orjson.dumps(elements, option=_SORTED)
    except orjson.JSONEncodeError:
        # Deep nesting: keep the whole-document limit, which a chunk alone does not see.
        if array_depth + _depth(elements) - 1 > plan_reader.MAX_DEPTH:
            return None
        out = _canonical_python(elements)
        quotes = plan_reader.structural_quote_count(out)
    else:
        out, quotes = _finish(out, elements)
    return out, len(elements), plan_reader.structural_quote_count(piece) != quotes


def _located_duplicate(
    data: bytes, array_open: int, start: int, end: int, elements_before: int, source: str
) -> UsageError:
    """The duplicate-key error for the chunk ``data[start:end]``, placed in the document."""
    found = plan_reader.find_duplicate_key(b"".join((b"[", data[start:end], b"]")))
    if found is None:  # pragma: no cover - the string counts say there is one
        return UsageError(f"{source} has a duplicate key.")
    index, *inside = found.path  # the first step is the element's index in the chunk
    path = (*plan_reader.json_path_after(data[:array_open]), elements_before + int(index), *inside)
    line = data.count(b"\n", 0, start) + found.line
    column = found.column
    if found.line == 1:  # on the chunk's first line, after the "[" put before it
        line_start = data.rfind(b"\n", 0, start) + 1
        column += len(data[line_start:start].decode("utf-8")) - 1
    return plan_reader.duplicate_key_error(
        plan_reader.DuplicateKey(found.key, path, line, column), source
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
    out = _canonical(value)
    if plan_reader.structural_quote_count(frame) != plan_reader.structural_quote_count(out):
        return None
    marker = b"[" + token + b"]"
    if out.count(marker) != 1:
        return None
    at = out.index(marker)
    return out[: at + 1], out[at + len(marker) - 1 :]


def _find_array(data: bytes, cut: bytes) -> tuple[int, int] | None:
    """Where the array that ``cut`` separates the elements of opens, and its depth.

    A Python token scan from the start of the document to ``_CHUNK`` bytes past
    the first cut; of the arrays whose elements a cut separates there, the
    shallowest is taken, so that the cut between two nested objects of an
    element does not pass for the plan's array. Gives up past ``_MAX_SCAN``.
    """
    first = data.find(cut)
    if not 0 <= first <= _MAX_SCAN:
        return None
    best: tuple[int, int] | None = None
    opened: list[int] = []
    for match in _SCAN_TOKEN.finditer(data):
        at = match.start()
        if at > first + _CHUNK:
            break
        token = data[at]
        if token in b"[{":
            opened.append(at)
        elif token in b"]}":
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
        if token in b"[{":
            depth += 1
        elif token in b"]}":
            if depth == 0:
                return at if token == ord("]") else None
            depth -= 1
    return None
