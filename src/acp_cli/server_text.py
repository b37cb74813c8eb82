"""Text that came from the server, made safe to show: the one sanitiser.

A server's messages, IDs, status line and headers could carry control
characters and escape sequences that move the cursor, clear the screen, forge
output (C0 controls, DEL, C1 controls: U+009B is a CSI on many terminals) or
reorder what is shown (bidirectional overrides and isolates). Everything acp
shows that came from a server passes through this module first, whatever the
output mode: `one_line` for messages and table cells, `escape` for the ``-v``
log, `json_text` for the answer printed by ``--json``.
"""

from __future__ import annotations

import re

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 control characters, DEL, the bidirectional marks, embeddings,
overrides and isolates, and the Unicode line and paragraph separators."""

_JSON_WHITESPACE = {"\t": "\t", "\n": "\n", "\r": " "}
"""In valid JSON these can only be whitespace between tokens (inside a string
they must be escaped), so they keep their meaning; a carriage return, which
would move the cursor back over a line, becomes a space."""


def one_line(text: str, *, limit: int | None = None) -> str:
    """``text`` on one line: unsafe characters become spaces, runs of spaces one.

    Longer than ``limit`` characters, it is cut and ends with an ellipsis.
    """
    text = " ".join(UNSAFE.sub(" ", text).split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def escape(text: str) -> str:
    """``text`` with every unsafe character written as an escape: ``\\x9b``, ``\\u202e``."""
    return UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_text(document: bytes) -> bytes:
    """A valid UTF-8 JSON ``document`` with its unsafe characters written as ``\\uXXXX``.

    The result is the same JSON value: outside the whitespace between tokens,
    such a character can only stand inside a string, where the escape means
    the same character.
    """
    text = document.decode("utf-8")
    if UNSAFE.search(text) is None:
        return document
    return UNSAFE.sub(_json_escaped, text).encode("utf-8")


def _json_escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _JSON_WHITESPACE.get(char) or f"\\u{ord(char):04x}"


def has_control(text: str) -> bool:
    """Whether ``text`` holds an unsafe character (see `UNSAFE`)."""
    return UNSAFE.search(text) is not None
