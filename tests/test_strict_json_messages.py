"""acp_cli.strict_json: every refusal's message and hint whole, one row per error class."""

from __future__ import annotations

from pathlib import Path

import pytest

from acp_cli import strict_json as plan
from acp_cli.errors import UsageError
from tests.support.messages import refusal
from tests.support.ordinary_user import as_ordinary_user

SYNTAX = "Check the JSON syntax: one value (RFC 8259), encoded as UTF-8."
OBJECT = 'A plan or metadata file holds one JSON object: {"key": value, ...}.'
NAN = "Write the value as a string or null."
SURROGATE = (
    "A \\ud800-\\udfff escape must be a high surrogate followed by a low one; "
    "alone it is not a character."
)
DOUBLE = "Numbers must lie within +-1.7976931348623157e308 (IEEE 754 double)."
DUPLICATE = "Each key may appear once per object: a duplicate has no single canonical form."


@pytest.mark.parametrize(
    ("data", "message", "hint"),
    [
        (b"", "plan.json is empty.", SYNTAX),
        (b" \n ", "plan.json is empty.", SYNTAX),
        (
            b"\xef\xbb\xbf{}",
            "plan.json starts with a UTF-8 byte order mark (BOM).",
            "Save it as UTF-8 without a BOM.",
        ),
        (
            b'{\n"a":\n "\xff"}',
            "plan.json is not valid UTF-8: byte 0xff at line 3, column 3.",
            "Save the file as UTF-8.",
        ),
        (
            b'{"a": "\xff"}',
            "plan.json is not valid UTF-8: byte 0xff at line 1, column 8.",
            "Save the file as UTF-8.",
        ),
        (
            b'{"a":\n "\\ud800"}',
            "plan.json: lone UTF-16 surrogate escape in a string at line 2, column 3.",
            SURROGATE,
        ),
        (
            b'{"a": 1e400}',
            "plan.json: number out of range at line 1, column 7: it overflows a double.",
            DOUBLE,
        ),
        (
            b"[" * 1025 + b"]" * 1025,
            "plan.json: nested deeper than 1024 levels at line 1, column 1026.",
            SYNTAX,
        ),
        (
            b'{"a": NaN}',
            "plan.json: NaN and Infinity are not JSON numbers (line 1, column 7).",
            NAN,
        ),
        (
            b'{"a": -Infinity}',
            "plan.json: NaN and Infinity are not JSON numbers (line 1, column 8).",
            NAN,
        ),
        (b"{} x", "plan.json: unexpected data after the JSON value at line 1, column 4.", SYNTAX),
        (
            b'{"a" 1}',
            "plan.json is not valid JSON: unexpected character, expected ':' after key "
            "at line 1, column 6.",
            SYNTAX,
        ),
        (b"[1]", "plan.json must hold a JSON object, not an array.", OBJECT),
        (b'"s"', "plan.json must hold a JSON object, not a string.", OBJECT),
        (b"true", "plan.json must hold a JSON object, not true.", OBJECT),
        (b"false", "plan.json must hold a JSON object, not false.", OBJECT),
        (b"null", "plan.json must hold a JSON object, not null.", OBJECT),
        (b"3.5", "plan.json must hold a JSON object, not a number.", OBJECT),
        (b'{"a": 1, "a": 2}', 'plan.json: duplicate key "a" at $ (line 1, column 10).', DUPLICATE),
        (
            b'{"x": [{"k b": {"q": 1,\n "q": 2}}]}',
            'plan.json: duplicate key "q" at $.x[0]["k b"] (line 2, column 2).',
            DUPLICATE,
        ),
    ],
)
def test_each_refused_plan_says_what_and_where(data: bytes, message: str, hint: str) -> None:
    assert refusal(lambda: plan.parse_object(data, "plan.json"), UsageError) == (message, hint)


def test_command_line_text_that_is_not_utf8_is_refused_as_text() -> None:
    assert refusal(lambda: plan.parse_value("\udcff", "--meta a"), UsageError) == (
        "--meta a is not valid UTF-8 text.",
        "Give the value as UTF-8 text.",
    )


def test_a_file_that_cannot_be_read_names_the_reason_and_what_to_give(tmp_path: Path) -> None:
    missing, folder = tmp_path / "missing.json", tmp_path
    assert refusal(lambda: plan.read_file(str(missing)), UsageError) == (
        f"cannot read {missing}: No such file or directory",
        "Check the path, or give - to read standard input.",
    )
    assert refusal(lambda: plan.read_file(str(folder)), UsageError) == (
        f"cannot read {folder}: Is a directory",
        "Give the path of a JSON file.",
    )


def test_a_file_the_user_may_not_read_names_the_reason(ordinary_folder: Path) -> None:
    path = ordinary_folder / "plan.json"

    def attempt() -> tuple[str, str | None]:
        path.write_text("{}")
        path.chmod(0o000)
        return refusal(lambda: plan.read_file(str(path)), UsageError)

    assert as_ordinary_user(attempt) == (f"cannot read {path}: Permission denied", None)
