"""Strict reading of the plan and metadata files.

A plan is signed over its RFC 8785 canonical form (``acp_cli.signature``), so a
document that has no single canonical form is refused here, before anything is
sent, with a message that names the input and where the problem is:

- not UTF-8, or starting with a byte order mark (the plan's bytes are sent
  unchanged inside the request body, where a BOM would break the JSON);
- not exactly one JSON value (empty, trailing data), or, for files, not an object;
- ``NaN``, ``Infinity`` or any number that overflows a double (``1e400``);
  integers beyond 2^64 are valid and read as the nearest double, as RFC 8785 says;
- lone UTF-16 surrogates (``"\\ud800"``) in keys or values;
- the same key twice in one object, at any depth;
- nesting deeper than 1024 levels.

Parsing is done by orjson at C speed. orjson already refuses everything above
except duplicate keys, which it silently resolves to the last value; they are
found by counting strings (see ``structural_quote_count``) and located, only
when there is one, by a slower token scan that knows the JSON path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any

import orjson

from acp_cli.errors import UsageError

MAX_DEPTH = 1024
"""Deepest nesting accepted: orjson's limit, so every reading path agrees."""

_SYNTAX_HINT = "Check the JSON syntax: one value (RFC 8259), encoded as UTF-8."
_OBJECT_HINT = 'A plan or metadata file holds one JSON object: {"key": value, ...}.'
_NAN_RE = re.compile(r"[-+]?(?:nan|inf|infinity)(?![A-Za-z0-9_])", re.IGNORECASE)
# One JSON token, for locating duplicate keys in a document already known to be valid.
_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def read_source(path: str, stdin: IO[bytes]) -> bytes:
    """Return the bytes of ``path``, or of ``stdin`` when ``path`` is ``-``.

    Raises ``UsageError`` naming the path and the operating system's reason
    when the file is missing, unreadable or a directory.
    """
    if path == "-":
        try:
            return stdin.read()
        except OSError as exc:
            raise UsageError(f"cannot read standard input: {_reason(exc)}") from exc
    return read_file(path)


def read_file(path: str) -> bytes:
    """Return the bytes of the file ``path`` (``-`` is a file name here, as for ``open()``).

    Raises ``UsageError`` naming the path and the operating system's reason
    when the file is missing, unreadable or a directory.
    """
    try:
        # open() rather than pathlib, which the plain signing path does not import.
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError as exc:
        raise UsageError(
            f"cannot read {path}: {_reason(exc)}",
            hint="Check the path, or give - to read standard input.",
        ) from exc
    except IsADirectoryError as exc:
        raise UsageError(
            f"cannot read {path}: {_reason(exc)}", hint="Give the path of a JSON file."
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {_reason(exc)}") from exc


def parse_object(data: bytes, source: str) -> dict[str, Any]:
    """Parse ``data`` strictly as one JSON object; ``source`` names it in messages.

    See the module docstring for what is refused. Raises ``UsageError``.
    """
    value = parse_value(data, source)
    if not isinstance(value, dict):
        raise UsageError(
            f"{source} must hold a JSON object, not {_kind(value)}.", hint=_OBJECT_HINT
        )
    return value


def parse_value(text: str | bytes, source: str) -> Any:
    """Parse ``text`` strictly as one JSON value of any kind; ``source`` names it in messages.

    Used for ``--meta key:=JSON``. Same strictness as ``parse_object``.
    """
    value = _load(text, source)
    try:
        found = structural_quote_count(orjson.dumps(value))
    except orjson.JSONEncodeError:
        # orjson writes at most 254 levels; deeper (valid) documents are counted by hand.
        found = 2 * _count_strings(value)
    if structural_quote_count(text) != found:
        duplicate = find_duplicate_key(text)
        assert duplicate is not None  # the string counts say there is one
        raise duplicate_key_error(duplicate, source)
    return value


def _load(text: str | bytes, source: str) -> Any:
    """Parse one JSON value with orjson, turning its errors into ``UsageError``.

    Everything the module docstring lists is refused here except duplicate
    keys (orjson keeps the last one), which ``parse_value`` checks.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _decode_error(text, source, exc) from None


def structural_quote_count(text: str | bytes) -> int:
    """How many ``"`` in a valid JSON text open or close a string (twice its strings).

    Parsing keeps every string of the text, keys and values, except the keys
    (and values) of duplicate entries, which a parser that keeps the last value
    drops. So a document has no duplicate keys exactly when its count equals the
    count of the re-serialized parse. Counting bytes runs at memory speed, where
    walking millions of parsed objects in Python would not.

    Escaped quotes do not count. A quote is escaped when an odd number of
    backslashes precede it; removing the escaped backslashes (``\\\\`` pairs, left
    to right, which is how a JSON reader pairs them) leaves exactly the
    escaping backslashes in front of escaped quotes.
    """
    # No mutants of these lines: any other replacement without a backslash or a
    # quote ("XXXX") breaks the pairs alike.
    if isinstance(text, str):
        quotes = text.count('"')
        if "\\" in text:
            quotes -= text.replace("\\\\", "").count('\\"')  # pragma: no mutate
        return quotes
    quotes = text.count(b'"')
    if b"\\" in text:
        quotes -= text.replace(b"\\\\", b"").count(b'\\"')  # pragma: no mutate
    return quotes


@dataclass(frozen=True)
class DuplicateKey:
    """Where a key repeats: the key, the JSON path of its object, line and column (from 1)."""

    key: str
    path: tuple[str | int, ...]
    line: int
    column: int


def duplicate_key_error(found: DuplicateKey, source: str) -> UsageError:
    """The error for a duplicate key, located."""
    return UsageError(
        f"{source}: duplicate key {_quote(found.key)} at {format_json_path(found.path)}"
        f" (line {found.line}, column {found.column}).",
        hint="Each key may appear once per object: a duplicate has no single canonical form.",
    )


def find_duplicate_key(text: str | bytes) -> DuplicateKey | None:
    """The first repeated key in valid JSON ``text``, in document order.

    A token scan in Python (about 10 MB/s), run only once a duplicate is
    known to exist. It keeps an explicit stack, so any nesting depth works, and
    compares keys after unescaping, as the parser does (``"a"`` and
    ``"\\u0061"`` are the same key).
    """
    text = _as_text(text)
    stack: list[_Container] = []
    for match in _TOKEN_RE.finditer(text):
        key = _scan(stack, match.group())
        if key is not None and key in stack[-1].keys:
            line, column = _line_and_column(text[: match.start()])
            return DuplicateKey(key, _path_of(stack[:-1]), line, column)
        if key is not None:
            stack[-1].keys.add(key)
            stack[-1].position = key
    return None


def object_members(document: bytes) -> list[tuple[str, bytes]]:
    """The members of the valid JSON object ``document``: each key, and its value's own text.

    The value is its exact source text, so a number keeps its digits
    (``99999999999999999999``, ``1.0``) where parsing and re-serializing would
    round or reformat it. ``document`` must already have passed `parse_object`.
    """
    text = document.decode()  # UTF-8
    members: list[tuple[str, bytes]] = []
    depth = 0
    key: str | None = None
    value_start = 0  # pragma: no mutate: set at each member's ":", before it is read
    for match in _TOKEN_RE.finditer(text):
        lexeme = match.group()
        if depth == 1 and lexeme in (",", "}") and key is not None:
            members.append((key, text[value_start : match.start()].strip().encode()))
            key = None
        elif depth == 1 and key is None and lexeme.startswith('"'):
            key = orjson.loads(lexeme)
        elif depth == 1 and lexeme == ":":
            value_start = match.end()
        if lexeme in ("{", "["):
            depth += 1
        elif lexeme in ("}", "]"):
            depth -= 1
    return members


def json_path_after(prefix: str | bytes) -> tuple[str | int, ...]:
    """The JSON path of the value that starts where the valid JSON ``prefix`` ends."""
    stack: list[_Container] = []
    for match in _TOKEN_RE.finditer(_as_text(prefix)):
        key = _scan(stack, match.group())
        if key is not None:
            stack[-1].position = key
    return _path_of(stack)


def format_json_path(path: tuple[str | int, ...]) -> str:
    """``$.files[3]``, ``$["a b"]``: JSONPath as commonly written."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(f".{step}" if _IDENTIFIER_RE.match(step) else f"[{_quote(step)}]")
    return "".join(parts)


class _Container:
    """An object or array open during a token scan."""

    __slots__ = ("expecting_key", "is_object", "keys", "position")

    def __init__(self, is_object: bool) -> None:
        self.is_object = is_object
        self.keys: set[str] = set()
        # The current key or index. (No mutants: an object's is set at its first key,
        # before a path reaches into it.)
        self.position: str | int = "" if is_object else 0  # pragma: no mutate
        self.expecting_key = is_object


def _scan(stack: list[_Container], lexeme: str) -> str | None:
    """Apply one token to the stack; return the key if the token is an object key."""
    top = stack[-1] if stack else None
    if lexeme in ("{", "["):
        stack.append(_Container(lexeme == "{"))
    elif lexeme in ("}", "]"):
        stack.pop()
    elif top is None:
        pass
    elif lexeme == ",":
        if top.is_object:
            top.expecting_key = True
        else:
            top.position = int(top.position) + 1
    elif lexeme == ":":
        top.expecting_key = False  # pragma: no mutate: None is as false
    elif top.expecting_key:
        key: str = orjson.loads(lexeme)
        return key
    return None


def _path_of(containers: list[_Container]) -> tuple[str | int, ...]:
    return tuple(container.position for container in containers)


def _count_strings(value: Any) -> int:
    """Keys plus string values in a parsed document, without recursion."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            count += 1
        elif isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _decode_error(text: str | bytes, source: str, exc: orjson.JSONDecodeError) -> UsageError:
    """A clear ``UsageError`` for what orjson refused, with line and column."""
    message = exc.msg
    where = f"line {exc.lineno}, column {exc.colno}"
    if "zero-length" in message or "input data is empty" in message:
        return UsageError(f"{source} is empty.", hint=_SYNTAX_HINT)
    if "byte order mark" in message:
        return UsageError(
            f"{source} starts with a UTF-8 byte order mark (BOM).",
            hint="Save it as UTF-8 without a BOM.",
        )
    if "not valid UTF-8" in message:
        return _encoding_error(text, source)
    if "surrogate" in message:
        return UsageError(
            f"{source}: lone UTF-16 surrogate escape in a string at {where}.",
            hint="A \\ud800-\\udfff escape must be a high surrogate followed by a low one;"
            " alone it is not a character.",
        )
    if "infinity when parsed as double" in message:
        return UsageError(
            f"{source}: number out of range at {where}: it overflows a double.",
            hint="Numbers must lie within +-1.7976931348623157e308 (IEEE 754 double).",
        )
    if "depth limit" in message:
        return UsageError(
            f"{source}: nested deeper than {MAX_DEPTH} levels at {where}.", hint=_SYNTAX_HINT
        )
    if _is_nan_or_infinity(text, exc.pos):
        return UsageError(
            f"{source}: NaN and Infinity are not JSON numbers ({where}).",
            hint="Write the value as a string or null.",
        )
    if "unexpected content after document" in message:
        return UsageError(
            f"{source}: unexpected data after the JSON value at {where}.", hint=_SYNTAX_HINT
        )
    return UsageError(f"{source} is not valid JSON: {message} at {where}.", hint=_SYNTAX_HINT)


def _encoding_error(text: str | bytes, source: str) -> UsageError:
    """Locate the first byte that is not UTF-8 (orjson reports only that there is one)."""
    if isinstance(text, str):
        # Text from the command line: undecodable bytes became lone surrogates.
        return UsageError(
            f"{source} is not valid UTF-8 text.", hint="Give the value as UTF-8 text."
        )
    try:
        text.decode()  # UTF-8
    except UnicodeDecodeError as exc:
        line, column = _line_and_column(text[: exc.start].decode())
        return UsageError(
            f"{source} is not valid UTF-8: byte 0x{text[exc.start]:02x}"
            f" at line {line}, column {column}.",
            hint="Save the file as UTF-8.",
        )
    raise AssertionError  # pragma: no cover - orjson found a byte that is not UTF-8


def _line_and_column(before: str) -> tuple[int, int]:
    """The line and column (from 1) of the character after the text ``before``."""
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def _is_nan_or_infinity(text: str | bytes, pos: int) -> bool:
    """Whether the character position orjson stopped at is NaN or (+-)Infinity.

    orjson stops on the sign of "+Infinity" and after the sign of "-Infinity",
    so at a word the pattern matches, with its optional sign.
    """
    return _NAN_RE.match(_as_text(text), pos) is not None


def _as_text(text: str | bytes) -> str:
    # orjson checks that all of a document is UTF-8 before it parses any of it, so
    # text that got this far decodes: no error handler to choose.
    return text if isinstance(text, str) else text.decode()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _quote(key: str) -> str:
    # Keys come from parsed text, which holds no lone surrogate: orjson writes them all.
    return orjson.dumps(key).decode()


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return "a number"
