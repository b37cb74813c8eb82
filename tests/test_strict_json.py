"""Strict reading of plan and metadata files: every refusal names the input and the place."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from acp_cli import strict_json
from acp_cli.errors import ExitCode, UsageError


def refusal(data: bytes | str, source: str = "plan.json") -> UsageError:
    """The error ``parse_object`` raises for ``data``."""
    with pytest.raises(UsageError) as raised:
        strict_json.parse_object(data.encode() if isinstance(data, str) else data, source)
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.message.startswith(source)
    assert raised.value.hint
    return raised.value


# --- reading the source -------------------------------------------------------------


def test_read_source_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b'{"a": 1}')

    assert strict_json.read_source(str(path), io.BytesIO(b"unused")) == b'{"a": 1}'


def test_read_source_reads_standard_input_for_a_dash() -> None:
    assert strict_json.read_source("-", io.BytesIO(b'{"b": 2}')) == b'{"b": 2}'


def test_a_missing_file_is_named_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"

    with pytest.raises(UsageError) as raised:
        strict_json.read_source(str(path), io.BytesIO())

    assert raised.value.message == f"cannot read {path}: No such file or directory"
    assert raised.value.hint is not None
    assert "-" in raised.value.hint


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read .*: Is a directory"):
        strict_json.read_source(str(tmp_path), io.BytesIO())


def test_any_other_os_error_is_named(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")

    with pytest.raises(UsageError, match=r"cannot read .*file/plan.json: Not a directory"):
        strict_json.read_source(str(a_file / "plan.json"), io.BytesIO())


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(5, "Input/output error"), "Input/output error"),
        (OSError("the pipe broke"), "the pipe broke"),  # no strerror: the error's own text
    ],
)
def test_an_unreadable_standard_input_is_named(error: OSError, reason: str) -> None:
    class BrokenInput(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise error

    with pytest.raises(UsageError) as raised:
        strict_json.read_source("-", BrokenInput())
    assert raised.value.message == f"cannot read standard input: {reason}"


# --- good input ---------------------------------------------------------------------------


def test_a_plan_is_read_as_a_dict() -> None:
    data = b'{"files": [{"path": "a.txt", "size": 3, "mtime": 1.5}], "root": "/w"}\n'

    assert strict_json.parse_object(data, "plan.json") == {
        "files": [{"path": "a.txt", "size": 3, "mtime": 1.5}],
        "root": "/w",
    }


def test_numbers_are_read_as_rfc_8785_sees_them() -> None:
    value = strict_json.parse_object(
        b'{"big": 18446744073709551615, "bigger": 18446744073709551616, "huge": 1'
        + b"0" * 300
        + b', "tiny": 1e-400, "negative_zero": -0, "float_zero": -0.0}',
        "plan.json",
    )

    assert value["big"] == 2**64 - 1  # exact while it fits 64 bits
    assert value["bigger"] == 2.0**64  # beyond: the nearest double, as RFC 8785 reads it
    assert value["huge"] == 1e300
    assert value["tiny"] == 0.0
    assert value["negative_zero"] == 0
    assert math.copysign(1, value["float_zero"]) == -1


def test_escapes_and_unicode_are_decoded() -> None:
    value = strict_json.parse_object(
        '{"\\ud83d\\ude00": "\\u00e9\\n", "é": "\U0001f600", "\\u0061": 1}'.encode(), "plan.json"
    )

    assert value == {"\U0001f600": "é\n", "é": "\U0001f600", "a": 1}


def test_nesting_up_to_1024_levels_is_accepted() -> None:
    data = '{"a":' + "[" * 1023 + "]" * 1023 + "}"

    assert strict_json.parse_object(data.encode(), "plan.json")["a"] is not None


def test_the_same_key_in_different_objects_is_not_a_duplicate() -> None:
    data = b'{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "c": "\\"a\\": 1"}'

    assert strict_json.parse_object(data, "plan.json")["b"] == [{"a": 1}, {"a": 2}]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b" \n\t\r\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert refusal(data).message == "plan.json is empty."


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ("[]", "an array"),
        ('["a", 1]', "an array"),
        ('"text"', "a string"),
        ("3.5", "a number"),
        ("null", "null"),
        ("true", "true"),
    ],
)
def test_a_plan_that_is_not_an_object_is_refused(data: str, kind: str) -> None:
    error = refusal(data)

    assert error.message == f"plan.json must hold a JSON object, not {kind}."


def test_trailing_data_is_refused_with_its_place() -> None:
    error = refusal('{"a": 1}\n{"b": 2}\n')

    assert error.message == ("plan.json: unexpected data after the JSON value at line 2, column 1.")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ('{\n  "a": 1,\n  "b": \n}', "line 4, column 1"),
        ('{"a": 1,}', "line 1, column 8"),
        ('{"a" 1}', "line 1, column 6"),
        ("{'a': 1}", "line 1, column 2"),
        ('{"a": 01}', "line 1, column 7"),
        ('{"a": "unterminated}', "line 1, column 21"),
        ('{"é": x}', "line 1, column 7"),
        ('{"a": tru}', "line 1, column 7"),
        ('{"a": "\\x"}', "line 1, column 8"),
        ('{"a": "tab\tinside"}', "line 1, column 11"),
    ],
)
def test_invalid_json_is_refused_with_line_and_column(data: str, where: str) -> None:
    error = refusal(data)

    assert error.message.startswith("plan.json is not valid JSON: ")
    assert error.message.endswith(f" at {where}.")


def test_a_byte_order_mark_is_refused() -> None:
    error = refusal(b'\xef\xbb\xbf{"a": 1}')

    assert error.message == "plan.json starts with a UTF-8 byte order mark (BOM)."
    assert error.hint == "Save it as UTF-8 without a BOM."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": "\xff"}', "byte 0xff at line 1, column 8"),
        (b'{"a":\n  "\xc3\xa9\xc3"}', "byte 0xc3 at line 2, column 5"),
        (b'{"a": "\xed\xa0\x80"}', "byte 0xed at line 1, column 8"),  # an encoded surrogate
        (b'{"a": 1}  \xfe', "byte 0xfe at line 1, column 11"),
    ],
)
def test_invalid_utf8_is_refused_with_the_byte_and_its_place(data: bytes, message: str) -> None:
    error = refusal(data)

    assert error.message == f"plan.json is not valid UTF-8: {message}."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"a": 1, "a": 2}', 'duplicate key "a" at $ (line 1, column 10)'),
        ('{"a": 1, "a": 1}', 'duplicate key "a" at $ (line 1, column 10)'),
        (
            '{"files": [{}, {}, {}, {"size": 1,\n "path": "x", "size": 2}]}',
            'duplicate key "size" at $.files[3] (line 2, column 15)',
        ),
        ('{"a": {"b": [0, {"c": {"k": 1, "\\u006b": 2}}]}}', 'duplicate key "k" at $.a.b[1].c'),
        ('{"a b": {"é": 1, "é": 2}}', 'duplicate key "é" at $["a b"]'),
        ('{"x": [[{"\\ud83d\\ude00": 1, "😀": 2}]]}', 'duplicate key "😀" at $.x[0][0]'),
        ('{"": 1, "": 2}', 'duplicate key "" at $ ('),
        # Values are not keys, even where they repeat one.
        ('{"a": "b", "b": "a", "b": 1}', 'duplicate key "b" at $ (line 1, column 22)'),
    ],
)
def test_duplicate_keys_are_refused_with_their_path(data: str, message: str) -> None:
    error = refusal(data)

    assert error.message.startswith(f"plan.json: {message}")
    assert error.hint is not None
    assert "once per object" in error.hint


def test_duplicate_keys_are_found_deeper_than_orjson_writes() -> None:
    depth = 400
    data = '{"a":' + "[" * depth + '{"k": "v", "s": ["x"], "k": "w"}' + "]" * depth + "}"

    error = refusal(data)

    assert error.message.startswith('plan.json: duplicate key "k" at $.a' + "[0]" * depth + " (")


def test_deep_documents_without_duplicates_are_accepted() -> None:
    depth = 400
    data = '{"a":' + "[" * depth + '{"k": "v", "s": ["x", "y"]}' + "]" * depth + "}"

    assert strict_json.parse_object(data.encode(), "plan.json")["a"] is not None


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ('{"a": NaN}', "line 1, column 7"),
        ('{"a": Infinity}', "line 1, column 7"),
        ('{"a": -Infinity}', "line 1, column 8"),
        ('{"a": [1, nan]}', "line 1, column 11"),
        ('{"a":\n +Infinity}', "line 2, column 2"),
    ],
)
def test_nan_and_infinity_are_refused(data: str, where: str) -> None:
    error = refusal(data)

    assert error.message == f"plan.json: NaN and Infinity are not JSON numbers ({where})."


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1.8e308", "1" + "0" * 400, "-" + "9" * 309 + ".5", "2e308"]
)
def test_numbers_that_overflow_a_double_are_refused(number: str) -> None:
    error = refusal('{\n  "size": ' + number + "\n}")

    assert error.message.startswith("plan.json: number out of range at line 2")
    assert "overflows a double" in error.message


@pytest.mark.parametrize(
    ("data", "column"),
    [
        ('{"a": "\\ud800"}', 8),
        ('{"a": "x\\udfff"}', 9),
        ('{"\\udc00": 1}', 3),
        ('{"a": "\\ud800\\u0041"}', 8),
        ('{"a": "\\udc00\\ud800"}', 8),
        ('{"a": ["ok", "\\ud83d"]}', 15),
    ],
)
def test_lone_surrogates_are_refused(data: str, column: int) -> None:
    error = refusal(data)

    assert error.message.startswith("plan.json: lone UTF-16 surrogate escape in a string at line 1")
    assert f"column {column}" in error.message


def test_nesting_deeper_than_1024_levels_is_refused() -> None:
    error = refusal('{"a":' + "[" * 1024 + "]" * 1024 + "}")

    assert error.message.startswith("plan.json: nested deeper than 1024 levels")


def test_the_source_name_is_the_one_given() -> None:
    error = refusal(b"[1]", source="standard input")

    assert error.message == "standard input must hold a JSON object, not an array."


# --- single values (--meta key:=JSON) ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2.5e3", -2500.0),
        ('"x"', "x"),
        ("[1, {}]", [1, {}]),
        ("null", None),
        ("true", True),
        (' {"a": [1]} ', {"a": [1]}),
    ],
)
def test_parse_value_reads_any_json_value(text: str, value: Any) -> None:
    assert strict_json.parse_value(text, "--meta k") == value
    assert strict_json.parse_value(text.encode(), "--meta k") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "--meta k is empty."),
        ("NaN", "--meta k: NaN and Infinity are not JSON numbers (line 1, column 1)."),
        ("1e999", "--meta k: number out of range at line 1, column 1"),
        ('{"a": 1, "a": 2}', '--meta k: duplicate key "a" at $ (line 1, column 10).'),
        ('"\\ud800"', "--meta k: lone UTF-16 surrogate escape"),
        ("1 2", "--meta k: unexpected data after the JSON value at line 1, column 3."),
        ("abc", "--meta k is not valid JSON: "),
        ("\udcff", "--meta k is not valid UTF-8 text."),  # an undecodable byte in argv
    ],
)
def test_parse_value_is_as_strict(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        strict_json.parse_value(text, "--meta k")

    assert raised.value.message.startswith(message)


# --- the duplicate check itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quotes"),
    [
        ('{"a": "b"}', 4),
        ('{"a": "\\""}', 4),
        ('{"a": "\\\\"}', 4),
        ('{"a": "\\\\\\""}', 4),
        ('["\\\\\\\\", "\\"\\""]', 4),
        ("[1, 2]", 0),
    ],
)
def test_structural_quote_count_ignores_escaped_quotes(text: str, quotes: int) -> None:
    assert json.loads(text) is not None
    assert strict_json.structural_quote_count(text) == quotes
    assert strict_json.structural_quote_count(text.encode()) == quotes
