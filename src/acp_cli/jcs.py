"""RFC 8785, the JSON Canonicalization Scheme (JCS): one canonical text for a JSON value.

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
   written by the exact pure-Python writer (`canonical_python`).
3. Key order. orjson sorts by code point, JCS by UTF-16 code unit; the two
   disagree only when one key has a character above U+FFFF where another has
   one in U+E000-U+FFFF. Such characters are found in the output by memchr on
   their UTF-8 lead bytes; only when one is in a key are the objects' key
   orders compared, and the pure-Python writer takes over if one differs.

The plan signature and its chunked reading of large plans are in
`acp_cli.signature`, which builds on `canonical_valid`, `finish_sorted` and
`canonical_python`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from acp_cli import strict_json

ORJSON_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
"""The orjson options whose output `finish_sorted` turns into JCS."""
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


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    ``value`` is made of ``dict`` (``str`` keys), ``list``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``. Raises ``TypeError`` for anything else and
    ``ValueError`` for what has no canonical form: NaN or an infinity, a number
    beyond the double range, a lone surrogate in a string, nesting deeper than
    1024 levels (or a cycle).
    """
    _check_json_value(value)
    return canonical_valid(value)


def canonical_valid(value: Any) -> bytes:
    """JCS bytes of a value already known to be valid JSON (from the strict parser)."""
    try:
        out = orjson.dumps(value, option=ORJSON_SORTED)
    except orjson.JSONEncodeError:
        # An integer of 2^53 or beyond, or nesting past orjson's 254 levels.
        return canonical_python(value)
    return finish_sorted(out, value)[0]


def finish_sorted(out: bytes, value: Any) -> tuple[bytes, int]:
    """Turn ``orjson.dumps(value, option=ORJSON_SORTED)`` into JCS (see the module docstring).

    Also returns the number of quotes that delimit strings in it, which the
    duplicate-key check needs and the number fixing counts anyway.
    """
    if not out.isascii() and _astral_in_keys(out) and _utf16_order_differs(value):
        canonical = canonical_python(value)
        return canonical, strict_json.structural_quote_count(canonical)
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
        # JSON text starts with ASCII, so `at` is never 0 (no mutants: `> 0` is as right).
        while at >= 0:  # pragma: no mutate
            end = _string_end(out, at)
            if out[end + 1 : end + 2] == b":":
                return True
            at = out.find(lead, end)
    return False


def _string_end(out: bytes, inside: int) -> int:
    """Position of the quote that closes the string holding position ``inside``.

    ``out`` is JSON text and ``inside`` is within one of its strings, after the
    quote that opens it: the closing quote is found, and no run of backslashes
    reaches back past the opening one.
    """
    quote = out.find(b'"', inside)
    while out[quote - 1] == _BACKSLASH:
        # Escaped when an odd number of backslashes precede it.
        backslashes = 1
        while out[quote - 1 - backslashes] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            break
        quote = out.find(b'"', quote + 1)
    return quote


def _utf16_order_differs(value: Any) -> bool:
    """Whether some object's keys sort differently by UTF-16 code units than by code points."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(not k.isascii() and ord(max(k)) >= 0x10000 for k in item):
                by_code_point = sorted(item)
                if by_code_point != sorted(by_code_point, key=_utf16_key):
                    return True
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return False


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare as the sequence of code units does.
    return key.encode("utf-16-be")  # pragma: no mutate: "UTF-16-BE" is the same codec


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
        # (A match at 0 is the whole text "-6", whose last byte, out[-1], is no "e".)
        ends += [m.end() for m in _SMALL_EXPONENT.finditer(out) if out[m.start() - 1] == _E]
    quotes_text = out
    if b"\\" in out:
        # Same length, with escaped backslashes and escaped quotes blanked out,
        # so that every '"' left opens or closes a string.
        quotes_text = out.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    if not ends:
        return out, quotes_text.count(b'"')
    ends.sort()
    pieces: list[bytes] = []
    # Output copied up to `done`; `quotes` string quotes counted up to `counted`.
    done = counted = quotes = 0
    for end in ends:
        quotes += quotes_text.count(b'"', counted, end)
        counted = end
        if quotes % 2:  # inside a string
            continue
        # The token starts after the ":", "," or "[" before it (orjson writes no
        # spaces), at most 25 bytes back ("-0.0000012345678901234567"); looking no
        # further keeps each look short (no mutants: any window from 26 is as right).
        window = max(0, end - 32)  # pragma: no mutate
        before = out[window:end]
        start = window + 1 + max(before.rfind(b":"), before.rfind(b","), before.rfind(b"["))
        pieces.append(out[done:start])
        # A fast path (no mutants: _es_number writes these alike, only slower).
        if out[end - 2 : end] == b".0":  # pragma: no mutate
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
    # No mutants of the strips' characters: digits hold no other to strip. (Leading
    # zeros left in, from "0.001", would be written back as they are by the second case.)
    stripped = digits.lstrip("0")  # pragma: no mutate
    # x = 0.DIGITS * 10**n, DIGITS without leading or trailing zeros.
    n = len(integer) + (int(exponent) if exponent else 0) - (len(digits) - len(stripped))
    digits = stripped.rstrip("0")  # pragma: no mutate
    k = len(digits)
    # The four cases of Number::toString as the standard words them. A double has
    # k <= 17 digits, so the second case never sees n = 21 and the third never
    # n = 1 (no mutants of those bounds).
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:  # pragma: no mutate
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:  # pragma: no mutate
        body = "0." + "0" * -n + digits
    else:
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + f"e{n - 1:+d}"
    return sign + body


def canonical_python(value: Any) -> bytes:
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
            # A fast path (no mutants: _es_number writes these integers alike).
            if -_SAFE_INTEGER < item < _SAFE_INTEGER:  # pragma: no mutate
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
        raise ValueError(f"integer of {value.bit_length()} bits overflows a double") from None


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
            if depth >= strict_json.MAX_DEPTH:
                raise ValueError(f"nested deeper than {strict_json.MAX_DEPTH} levels (or a cycle)")
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
            # A fast path (no mutants: any bound up to the double range is as right).
            if not -_SAFE_INTEGER < item < _SAFE_INTEGER:  # pragma: no mutate
                _to_double(item)  # refuses an integer beyond the double range
        elif kind not in (str, bool, type(None)):
            raise TypeError(f"{kind.__name__} is not a JSON value")
