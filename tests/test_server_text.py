"""The one sanitiser of text that came from a server."""

from __future__ import annotations

import json

import orjson
import pytest

from acp_cli.server_text import UNSAFE, escape, has_control, json_text, one_line

UNSAFE_CHARS = [
    *(chr(code) for code in range(0x00, 0x20)),  # C0
    "\x7f",  # DEL
    *(chr(code) for code in range(0x80, 0xA0)),  # C1, U+009B being a CSI
    "\u061c",  # Arabic letter mark
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    *(chr(code) for code in range(0x202A, 0x202F)),  # embeddings and overrides
    *(chr(code) for code in range(0x2066, 0x206A)),  # isolates
]
SAFE = "plain ASCII, é, 中文, 😀, \u200b, \u2030"


@pytest.mark.parametrize("char", UNSAFE_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_unsafe_character_is_caught_by_every_function(char: str) -> None:
    text = f"a{char}b"
    assert has_control(text)
    assert one_line(text) == "a b"
    shown = escape(text)
    assert UNSAFE.search(shown) is None
    code = ord(char)
    assert shown == (f"a\\x{code:02x}b" if code < 0x100 else f"a\\u{code:04x}b")
    document = json.dumps({"k": text}, ensure_ascii=False).encode()
    assert UNSAFE.search(json_text(document).decode()) is None
    assert orjson.loads(json_text(document)) == {"k": text}


def test_safe_text_is_left_alone() -> None:
    assert not has_control(SAFE)
    assert escape(SAFE) == SAFE
    assert one_line(SAFE) == SAFE
    document = json.dumps({"k": SAFE}, ensure_ascii=False).encode()
    assert json_text(document) is document


def test_one_line_collapses_and_cuts() -> None:
    assert one_line("  a \n\n b\u009b\u202ec  ") == "a b c"
    assert one_line("x" * 10, limit=5) == "xxxx…"


def test_json_whitespace_keeps_its_meaning() -> None:
    document = b'{\r\n\t"a": "\xc2\x9b",\r\n\t"b": [1,\r2]}'
    cleaned = json_text(document)
    assert cleaned == b'{ \n\t"a": "\\u009b", \n\t"b": [1, 2]}'
    assert orjson.loads(cleaned) == orjson.loads(document)
