"""RFC 8785 canonical JSON and the plan signature, held to the published vectors.

The vectors in ``tests/data/jcs`` (RFC 8785's published test data) are the standard every
JCS implementation is held to; the property tests compare our fast path with
the pure-Python ``rfc8785`` reference on generated documents.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rfc8785

from acp_cli import jcs, signature, strict_json
from acp_cli.emulator.endpoint import reference_signature
from acp_cli.errors import UsageError
from acp_cli.signature import canonical_json, plan_signature, sign_plan_bytes
from tests.support.paths import DATA

JCS_DIR = DATA / "jcs"
VECTOR_NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]


def jcs_file(*parts: str) -> Path:
    """A file of the vectors; a missing one fails the test, never skips it."""
    path = JCS_DIR.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"RFC 8785 vectors missing: {path}")
    return path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def refuse_calls(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> None:
    """Fail the test if ``module.name`` is called: a slow path that gives the same result."""

    def refuse(*args: Any) -> None:
        raise AssertionError(f"{module.__name__}.{name} called")

    monkeypatch.setattr(module, name, refuse)


def double(hex_bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(hex_bits.zfill(16)))[0]
    return value


# --- the published vectors ---------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_reference_vectors_byte_for_byte(name: str) -> None:
    source = jcs_file("input", f"{name}.json").read_bytes()
    expected = jcs_file("output", f"{name}.json").read_bytes()

    assert canonical_json(strict_json.parse_value(source, name)) == expected


@pytest.mark.parametrize("name", [name for name in VECTOR_NAMES if name != "arrays"])
def test_reference_vectors_signed_from_bytes(name: str) -> None:
    source = jcs_file("input", f"{name}.json").read_bytes()
    expected = jcs_file("output", f"{name}.json").read_bytes()

    assert sign_plan_bytes(source, name) == sha(expected)


def test_ten_thousand_numbers_as_ecmascript_writes_them() -> None:
    lines = jcs_file("numbers-10k.txt").read_text(encoding="ascii").splitlines()
    assert len(lines) == 10_000
    wrong = []
    for line in lines:
        hex_bits, expected = line.split(",")
        value = double(hex_bits)
        # Alone, and inside containers, where orjson writes it before it is fixed up.
        got = canonical_json(value).decode()
        inside = canonical_json({"a": [value, "1.0,"], "b": value}).decode()
        if got != expected or inside != f'{{"a":[{expected},"1.0,"],"b":{expected}}}':
            wrong.append((hex_bits, expected, got, inside))
    assert wrong == []


def test_ten_thousand_numbers_read_back_from_their_canonical_text() -> None:
    # What a server in another language sends back parses to the same double.
    lines = jcs_file("numbers-10k.txt").read_text(encoding="ascii").splitlines()
    text = "[" + ",".join(line.split(",")[1] for line in lines) + "]"
    expected = [double(line.split(",")[0]) for line in lines]

    parsed = strict_json.parse_value(text, "numbers")

    assert [struct.pack(">d", x) for x in parsed] == [
        struct.pack(">d", x if x != 0 else 0.0) for x in expected
    ]
    assert canonical_json(parsed).decode() == text


# --- hand-picked cases ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_text", "expected"),
    [
        ("1e21", "1e+21"),
        ("1e+21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("100000000000000000000", "100000000000000000000"),
        ("123456789012345678000", "123456789012345680000"),
        ("1e16", "10000000000000000"),
        ("1e15", "1000000000000000"),
        ("1e-7", "1e-7"),
        ("1.5e-7", "1.5e-7"),
        ("1e-6", "0.000001"),
        ("0.0000015", "0.0000015"),
        ("0.00001", "0.00001"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("0.0", "0"),
        ("-0e10", "0"),
        ("1.0", "1"),
        ("100.0", "100"),
        ("1E2", "100"),
        ("-1.5e300", "-1.5e+300"),
        ("1e-400", "0"),
        ("-1e-400", "0"),
        ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("0.1", "0.1"),
        ("333333333.33333329", "333333333.3333333"),
        ("9007199254740991", "9007199254740991"),
        ("9007199254740992", "9007199254740992"),
        ("9007199254740993", "9007199254740992"),
        ("-9007199254740993", "-9007199254740992"),
        ("9223372036854775807", "9223372036854776000"),
        ("-9223372036854775808", "-9223372036854776000"),
        ("18446744073709551615", "18446744073709552000"),
        ("18446744073709551616", "18446744073709552000"),
        ("123456789012345678901234567890", "1.2345678901234568e+29"),
        ("1" + "0" * 308, "1e+308"),
    ],
)
def test_numbers(json_text: str, expected: str) -> None:
    value = strict_json.parse_value(json_text, "number")

    assert canonical_json(value).decode() == expected
    assert canonical_json([value, {"n": value}]).decode() == f'[{expected},{{"n":{expected}}}]'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2**53, "9007199254740992"),
        (2**53 + 1, "9007199254740992"),
        (-(2**53) - 1, "-9007199254740992"),
        (2**64, "18446744073709552000"),
        (10**21, "1e+21"),
        (10**30, "1e+30"),
        (12 * 10**20, "1.2e+21"),
        (-(2**70), "-1.1805916207174113e+21"),
        # 2^53 sends the whole value to the exact writer, floats and all.
        ([2**53, 1.5e-7, -2.5e30], "[9007199254740992,1.5e-7,-2.5e+30]"),
        (2**1024 - 2**971, "1.7976931348623157e+308"),  # the largest double
        (-(2**1024) + 2**971, "-1.7976931348623157e+308"),
        (True, "true"),
        (None, "null"),
        ("", '""'),
        ([], "[]"),
        ({}, "{}"),
    ],
)
def test_python_values(value: Any, expected: str) -> None:
    assert canonical_json(value).decode() == expected


def test_strings_use_minimal_escaping_and_raw_utf8() -> None:
    text = "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\u2028\u2029\ufeff\u00e9\U0001f600'
    expected = (
        '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
        '\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/'
        '\x7f\u2028\u2029\ufeff\u00e9\U0001f600"'
    )

    assert canonical_json(text) == expected.encode("utf-8")
    assert canonical_json(text) == rfc8785.dumps(text)


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16: before U+E000 there, after it by code point.
    value = {"\ue000": 1, "\U0001f600": 2, "\uffff": 3, "a": 4, "\u00e9": 5}

    assert canonical_json(value) == '{"a":4,"é":5,"😀":2,"\ue000":1,"\uffff":3}'.encode()
    assert canonical_json(value) == rfc8785.dumps(value)


def test_utf16_order_is_applied_at_depth_and_inside_arrays() -> None:
    inner = {"\U0001f600": 1, "\uf000": 2}
    value: Any = {"x": [{"y": inner}], "\U00010000": inner}

    assert canonical_json(value) == rfc8785.dumps(value)


def test_non_bmp_characters_in_values_only_keep_the_fast_order() -> None:
    value: Any = {"b": "\U0001f600", "a": ["\U0001f600"], "\ue000": 1}

    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"b": [1.0, -0.0, 1e21, 1e-7], "a": 2**53 - 1},
            '{"a":9007199254740991,"b":[1,0,1e+21,1e-7]}',
        ),
        ({"\u00e9": "\ue000", "\uffff": ["\U0001f600"]}, '{"é":"\ue000","\uffff":["😀"]}'),
        (['\U0001f600":', {"k": "\U0001f600"}], '["😀\\":",{"k":"😀"}]'),
        ("\U0001f600", '"😀"'),
    ],
)
def test_what_orjson_writes_is_not_written_again_in_python(
    monkeypatch: pytest.MonkeyPatch, value: Any, expected: str
) -> None:
    # Only keys above U+FFFF send the objects to the order check, and only a
    # different order (or what orjson refuses) to the slow exact writer.
    refuse_calls(monkeypatch, jcs, "canonical_python")
    refuse_calls(monkeypatch, jcs, "_utf16_order_differs")

    assert canonical_json(value) == expected.encode()


def test_non_bmp_keys_in_the_same_order_either_way_are_written_by_orjson(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keys above U+FFFF send the objects to the exact order check; where UTF-16
    # and code points agree, orjson's text stands and the slow writer is not run.
    refuse_calls(monkeypatch, jcs, "canonical_python")
    value: Any = {"\U0001f600": 1, "a": [{"\U00010000": {"\U0001f601": 0, "": 1}}], "\u00e9": 2}

    expected = '{"a":[{"\U00010000":{"":1,"\U0001f601":0}}],"é":2,"😀":1}'
    assert canonical_json(value) == expected.encode()


def test_the_first_character_above_the_bmp_and_an_empty_key_sort_by_utf16() -> None:
    # U+10000 is D800 DC00 in UTF-16, the first non-BMP character; "" is ASCII.
    value = {"": 0, "\ue000": 1, "\U00010000": 2, "a\U00010000b": 3}

    assert canonical_json(value) == '{"":0,"a\U00010000b":3,"\U00010000":2,"\ue000":1}'.encode()
    assert canonical_json(value) == rfc8785.dumps(value)


def test_a_non_bmp_key_between_non_bmp_values_sorts_by_utf16() -> None:
    # orjson writes {"a":"😀","\ue000":1,"😀k":"😀"}: each non-BMP character is
    # looked at in turn, the key's after a value's, and before another value's.
    value = {"\ue000": 1, "\U0001f600k": "\U0001f600", "a": "\U0001f600"}

    assert canonical_json(value) == '{"a":"😀","😀k":"😀","\ue000":1}'.encode()


@pytest.mark.parametrize(
    ("key", "written"),
    [
        ("\U0001f600", '"\U0001f600"'),
        ('\U0001f600"', '"\U0001f600\\""'),  # one backslash: the first quote is escaped
        ("\U0001f600\\", '"\U0001f600\\\\"'),  # two: the first quote closes the key
        ('\U0001f600\\"', '"\U0001f600\\\\\\""'),  # three
        ("\U0001f600\\\\", '"\U0001f600\\\\\\\\"'),  # four
        ('\U0001f600"x\\y":', '"\U0001f600\\"x\\\\y\\":"'),
    ],
)
def test_keys_escaping_quotes_after_a_non_bmp_character_sort_by_utf16(
    key: str, written: str
) -> None:
    # orjson writes {"\ue000":1,KEY:"😀"}; the key's end must be found past its
    # escapes for it to be seen as a key, and the objects' order to be checked.
    value: Any = {"\ue000": 1, key: "\U0001f600"}

    assert canonical_json(value) == ("{" + written + ':"\U0001f600","\ue000":1}').encode()
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "text",
    [
        "1.0,",
        'x":1.0,',
        'x\\":1.0,',
        'x\\\\":-0.0]',
        "e+16]",
        ":1e+17}",
        "1e-6}",
        ":1.5e-6,",
        "-6,",
        '\\":2.0]',
    ],
)
def test_number_like_text_inside_strings_is_left_alone(text: str) -> None:
    value: Any = {"s": text, "n": [1.0, 1e16, 1e-6, text], "t": {text: 2.0}}

    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(text) == rfc8785.dumps(text)  # the string alone: its quote at 0


NO_CANONICAL_FORM = [
    (math.nan, ValueError, "nan has no JSON form"),
    (math.inf, ValueError, "inf has no JSON form"),
    ([-math.inf], ValueError, "-inf has no JSON form"),
    ({"a": 10**400}, ValueError, "integer of 1329 bits overflows a double"),
    ([1, [-(10**309)]], ValueError, "integer of 1027 bits overflows a double"),
    (2**1024, ValueError, "integer of 1025 bits overflows a double"),
    pytest.param(  # beyond what str() writes (4300 digits)
        10**5000, ValueError, "integer of 16610 bits overflows a double", id="10**5000"
    ),
    ("\ud800", ValueError, "string '\\ud800' holds a lone surrogate"),
    ({"\udc00": 1}, ValueError, "object key '\\udc00' holds a lone surrogate"),
    ({1: 2}, TypeError, "object key 1 is not a string"),
    ({"a": {None: 2}}, TypeError, "object key None is not a string"),
    ((1, 2), TypeError, "tuple is not a JSON value"),
    ({1, 2}, TypeError, "set is not a JSON value"),
    ({"a": object()}, TypeError, "object is not a JSON value"),
]


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [*NO_CANONICAL_FORM, ([b"bytes"], TypeError, "bytes is not a JSON value")],
)
def test_values_without_a_canonical_form_are_refused(
    value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        canonical_json(value)
    assert str(raised.value) == message


@pytest.mark.parametrize(("value", "error", "message"), NO_CANONICAL_FORM)
def test_the_exact_writer_refuses_them_alike(
    value: Any, error: type[Exception], message: str
) -> None:
    # The exact writer, which takes over where orjson cannot, refuses them by itself
    # too (bytes on its stack are its own punctuation, so they are left out here).
    with pytest.raises(error) as raised:
        jcs.canonical_python(value)
    assert str(raised.value) == message


def test_cycles_and_excessive_depth_are_refused() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    deepest: Any = {}  # MAX_DEPTH levels, the most there may be
    for _ in range(strict_json.MAX_DEPTH - 1):
        deepest = [deepest]
    message = "nested deeper than 1024 levels (or a cycle)"

    assert canonical_json(deepest) == b"[" * 1023 + b"{}" + b"]" * 1023
    for value in (cycle, [deepest], {"a": deepest}):
        with pytest.raises(ValueError, match="deeper") as raised:
            canonical_json(value)
        assert str(raised.value) == message


def test_deep_nesting_beyond_what_orjson_writes() -> None:
    deep: Any = {"\U0001f600": 1.0, "\ue000": 2**60}
    expected = '{"\U0001f600":1,"\ue000":1152921504606847000}'
    for index in range(600):
        deep = [deep] if index % 2 else {"k": deep}
        expected = f"[{expected}]" if index % 2 else f'{{"k":{expected}}}'

    assert canonical_json(deep) == expected.encode("utf-8")
    assert strict_json.parse_value(json.dumps(deep), "deep") == deep


def test_plan_signature_is_sha256_of_the_canonical_form() -> None:
    value = {"b": [1.0, "x"], "a": {"c": None}}

    assert plan_signature(value) == sha(b'{"a":{"c":null},"b":[1,"x"]}')
    assert plan_signature(value) == (
        "sha256:" + hashlib.sha256(b'{"a":{"c":null},"b":[1,"x"]}').hexdigest()
    )


# --- the signature does not depend on how the file is written --------------------


SAME_PLAN_WRITTEN_DIFFERENTLY = [
    b'{"files":[{"path":"a/\xc3\xa9.txt","size":3,"mtime":1.5}],"root":"/w","n":1e2}',
    b'{ "root" : "/w",\n  "n": 100,\n "files" : [ { "mtime" : 15e-1, "size" : 3, '
    b'"path" : "a/\\u00e9.txt" } ] }\n',
    b'\t{"n":100.0,"files":[{"size":3.0,"path":"a\\/\\u00E9.txt","mtime":0.15e1}],'
    b'"\\u0072oot":"\\/w"}\r\n',
]


def test_key_order_whitespace_and_escaping_do_not_change_the_signature() -> None:
    signatures = {sign_plan_bytes(text, "plan.json") for text in SAME_PLAN_WRITTEN_DIFFERENTLY}
    expected = sha(
        b'{"files":[{"mtime":1.5,"path":"a/\xc3\xa9.txt","size":3}],"n":100,"root":"/w"}'
    )

    assert signatures == {expected}


def test_sign_plan_bytes_refuses_what_parse_object_refuses() -> None:
    with pytest.raises(UsageError, match='duplicate key "a"'):
        sign_plan_bytes(b'{"a": 1, "a": 1}', "plan.json")
    with pytest.raises(UsageError, match="must hold a JSON object"):
        sign_plan_bytes(b"[1, 2]", "plan.json")


# --- the chunked path for large plans ------------------------------------------------


def make_plan(files: int) -> Any:
    entries = [
        {
            "path": f"src/dir-{i % 7}/f\u00e9{i}.txt",
            "size": i * 7919,
            "mode": 420,
            "mtime": 1.7e9 + i / 3 if i % 3 else 1.7e9 + i,
            "attributes": {"tags": ["a", "\U0001f600"], "ratio": 1e-6 * i, "big": 2**60 + i},
        }
        for i in range(files)
    ]
    return {"version": 1, "files": entries, "root": {"path": "/w", "list": [{"a": 1}, {}]}}


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk even small documents, so that the tests run the large-plan path."""
    monkeypatch.setattr(signature, "_MIN_CHUNKED", 0)
    monkeypatch.setattr(signature, "_CHUNK", 200)


@pytest.mark.parametrize("indent", [None, 0, 2])
@pytest.mark.usefixtures("small_chunks")
def test_chunked_path_matches_the_reference(indent: int | None) -> None:
    document = make_plan(300)
    text = json.dumps(document, indent=indent, ensure_ascii=indent == 2).encode()

    # The path under test is taken.
    assert signature._chunked_digest(text, "plan.json") is not None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


def test_chunked_path_at_its_real_size() -> None:
    document = make_plan(6_000)  # about 1.5 MB
    text = json.dumps(document, indent=1).encode()
    assert len(text) > signature._MIN_CHUNKED

    assert signature._chunked_digest(text, "plan.json") is not None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.usefixtures("small_chunks")
def test_chunked_path_with_nested_arrays_of_objects_that_look_alike() -> None:
    # Compact JSON where nested arrays hold objects with the same first key: a cut can
    # fall inside an element, and is then moved on to a real element boundary.
    entries = [{"path": f"f{i}", "children": [{"path": "x"}, {"path": "y"}]} for i in range(200)]
    document = {"files": entries}
    text = json.dumps(document, separators=(",", ":")).encode()

    assert signature._chunked_digest(text, "plan.json") is not None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("dirs_first", [False, True])
def test_two_arrays_cut_alike_are_read_in_one_piece(dirs_first: bool) -> None:
    # The cut between objects of "files" also occurs in "dirs": chunks of one array
    # would run into the other, so the fast path steps aside, whichever comes first.
    files = [{"a": i} for i in range(100)]
    dirs = [{"a": i} for i in range(3)]
    document = {"dirs": dirs, "files": files} if dirs_first else {"files": files, "dirs": dirs}
    text = json.dumps(document).encode()

    assert signature._chunked_digest(text, "plan.json") is None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    ("anchor", "old", "new", "message"),
    [
        (150, b'"mode": 420', b'"mode": 420, "mode": 420', 'duplicate key "mode" at $.files[150]'),
        (None, b'"version": 1', b'"version": 1, "version": 2', 'duplicate key "version" at $ ('),
        (150, b'"mode": 420', b'"mode": NaN', "NaN and Infinity"),
        (150, b'"mode": 420', b'"mode": 1e400', "out of range"),
        (150, b'"mode": 420', b'"mode": "\\udc00"', "lone UTF-16 surrogate"),
        (150, b'"mode": 420', b'"mode": 420,', "line 2"),
        (299, b'"mode": 420', b'"m\xffde": 420', "not valid UTF-8"),
        (None, b'"version": 1', b'"version": 1}', "unexpected data after the JSON value"),
    ],
)
def test_chunked_path_reports_errors_like_the_whole_document_parse(
    anchor: int | None, old: bytes, new: bytes, message: str
) -> None:
    text = json.dumps(make_plan(300), indent=2).encode()
    at = (
        0
        if anchor is None
        else text.index(
            f'"path": "src/dir-{anchor % 7}/'.encode()
            + b"f\\u00e9"
            + str(anchor).encode()
            + b'.txt"'
        )
    )
    broken = text[:at] + text[at:].replace(old, new, 1)
    assert broken != text

    with pytest.raises(UsageError) as raised:
        sign_plan_bytes(broken, "plan.json")
    assert message in raised.value.message
    assert "plan.json" in raised.value.message
    with pytest.raises(UsageError) as whole:
        strict_json.parse_object(broken, "plan.json")
    assert whole.value.message == raised.value.message


@pytest.mark.usefixtures("small_chunks")
def test_chunked_path_keeps_the_nesting_limit_of_the_whole_document() -> None:
    # The plan object, "files" and each element's object take three levels.
    def element(depth: int) -> str:
        return '{"a": ' + "[" * depth + "]" * depth + "}"

    limit = strict_json.MAX_DEPTH - 3
    ok = '{"files": [' + ", ".join([element(limit)] * 40) + "]}"
    too_deep = '{"files": [' + ", ".join([element(limit)] * 20 + [element(limit + 1)]) + "]}"

    assert signature._chunked_digest(ok.encode(), "plan.json") is not None
    assert sign_plan_bytes(ok.encode(), "plan.json") == sha(ok.replace(" ", "").encode())
    with pytest.raises(UsageError, match="nested deeper than 1024"):
        sign_plan_bytes(too_deep.encode(), "plan.json")


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    ("outer", "inner", "valid", "chunked"),
    [
        (760, 200, True, True),  # orjson writes the elements
        (772, 30, True, True),  # the deepest array chunked: its elements' objects at 1024
        (773, 30, True, False),
        (700, 320, True, True),  # too deep for orjson: measured, then written in Python
        (700, 330, False, False),
        (800, 200, True, False),  # the array itself is too deep for chunks
        (800, 230, False, False),
        (1000, 30, False, False),
    ],
)
def test_chunked_path_counts_the_depth_above_the_array(
    outer: int, inner: int, valid: bool, chunked: bool
) -> None:
    # The array is the "outer"-th level; its elements are "inner" levels deep.
    element = '{"path": ' + "[" * (inner - 1) + "]" * (inner - 1) + "}"
    text = '{"a":' + "[" * (outer - 2) + ", ".join([element] * 30) + "]" * (outer - 2) + "}"

    assert (signature._chunked_digest(text.encode(), "plan.json") is not None) == chunked
    if valid:
        assert sign_plan_bytes(text.encode(), "plan.json") == sha(text.replace(" ", "").encode())
    else:
        with pytest.raises(UsageError, match="nested deeper than 1024"):
            sign_plan_bytes(text.encode(), "plan.json")


@pytest.mark.usefixtures("small_chunks")
def test_chunked_path_orders_non_bmp_keys_by_utf16() -> None:
    entries = [
        {"path": f"f{i}", "\U0001f600": i, "\ue000": [i, "\U0001f680\\"], "v": 'x\U0001f600":'}
        for i in range(60)
    ]
    document = {"files": entries, "\U0001f680": 1, "\uffff": 2}
    for ascii_only in (True, False):
        text = json.dumps(document, indent=1, ensure_ascii=ascii_only).encode()

        assert signature._chunked_digest(text, "plan.json") is not None
        assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.parametrize(
    "value",
    [
        {"v": 'x\U0001f600":', "\ue000": 1, "a": 2},
        {"v": "\U0001f600\\", "w": '\\\U0001f600\\"', "\uf000": {"\U00010000": 1}},
        {'\U0001f600"': 1, "\ue000": 2},
        ["\U0001f600", {"\U0010ffff": 1, "\ufffd": 2}],
    ],
)
def test_non_bmp_characters_in_values_and_keys(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.usefixtures("small_chunks")
def duplicate_located_as_whole(text: bytes, after: bytes) -> str:
    """The error for a duplicate ``mode`` key put into the entry at ``after``, which
    must say what the strict reader of the whole document says (line, column, key)."""
    at = text.index(after)
    broken = text[:at] + text[at:].replace(b'"mode": 420', b'"mode": 420, "\\u006dode": 0', 1)
    with pytest.raises(UsageError) as raised:
        sign_plan_bytes(broken, "plan.json")
    with pytest.raises(UsageError) as whole:
        strict_json.parse_object(broken, "plan.json")
    assert raised.value.message == whole.value.message, after
    return raised.value.message


@pytest.mark.parametrize("indent", [None, 1])
@pytest.mark.parametrize("element", [0, 1, 151, 299])
def test_a_duplicate_in_a_chunk_is_located_in_the_document(
    indent: int | None, element: int
) -> None:
    text = json.dumps(make_plan(300), indent=indent, ensure_ascii=False).encode()
    message = duplicate_located_as_whole(text, f"/f\u00e9{element}.txt".encode())
    assert message.startswith(f'plan.json: duplicate key "mode" at $.files[{element}] (line ')


@pytest.mark.usefixtures("small_chunks")
def test_a_large_top_level_array_is_still_refused() -> None:
    text = json.dumps([{"path": f"f{i}", "size": i} for i in range(200)]).encode()

    with pytest.raises(UsageError, match="must hold a JSON object, not an array"):
        sign_plan_bytes(text, "plan.json")


@pytest.mark.usefixtures("small_chunks")
def test_a_plan_holding_the_placeholder_text_is_read_in_one_piece(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "urandom", lambda size: bytes(size))
    document = make_plan(100)
    document["root"]["list"] = ["acp-chunked-array-" + "00" * 16]
    text = json.dumps(document, indent=1).encode()

    assert signature._chunked_digest(text, "plan.json") is None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("where", ["head", "tail"])
def test_long_stretches_outside_the_chunks_are_read_in_one_piece(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # The Python token scan around the chunked array is bounded.
    monkeypatch.setattr(signature, "_MAX_SCAN", 2000)
    filler = ["x" * 10] * 300
    document: dict[str, Any] = {"files": [{"path": f"f{i}"} for i in range(100)]}
    if where == "head":
        document = {"a": filler, **document}
    else:
        document["files"][-1]["filler"] = filler
    text = json.dumps(document, indent=1).encode()

    assert signature._chunked_digest(text, "plan.json") is None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.parametrize(
    ("value", "depth"),
    [(0, 0), ("x", 0), ([], 1), ({}, 1), ([[]], 2), ({"a": [{}]}, 3), ([1, [2, [3]], {}], 3)],
)
def test_depth_counts_the_levels_of_nesting(value: Any, depth: int) -> None:
    assert signature._depth(value) == depth


@pytest.mark.usefixtures("small_chunks")
def test_chunks_orjson_can_write_are_never_written_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The pure-Python writer is for what orjson refuses (integers from 2^53, deep
    # nesting): taking it for every chunk gives the same bytes, ten times slower.
    refuse_calls(monkeypatch, signature, "canonical_python")
    document = {"files": [{"path": f"f\u00e9{i}", "size": i, "mtime": i / 3} for i in range(200)]}
    text = json.dumps(document, indent=1).encode()

    assert signature._chunked_digest(text, "plan.json") is not None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


def _one_line(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def _line_breaks_inside_elements(document: Any) -> bytes:
    # "}, {" stays on one line, so an element's first keys share the line its chunk
    # starts on, and lines end before it.
    return (
        _one_line(document).replace(b', "size"', b',\n "size"').replace(b', "files"', b',\n"files"')
    )


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    "layout",
    [
        _one_line,
        lambda document: b"\n" + _one_line(document),  # a blank first line
        _line_breaks_inside_elements,
        lambda document: json.dumps(document, indent=1, ensure_ascii=False).encode(),
    ],
    ids=["one line", "after a blank line", "line breaks inside elements", "indented"],
)
def test_a_duplicate_in_any_element_is_located_as_the_whole_document_parse_does(
    layout: Callable[[Any], bytes],
) -> None:
    document = {
        "version": 1,
        "files": [{"path": f"d\u00e9/f{i}", "mode": 420, "size": i} for i in range(40)],
    }
    text = layout(document)
    assert signature._chunked_digest(text, "plan.json") is not None
    for element in range(40):
        message = duplicate_located_as_whole(text, f'/f{element}"'.encode())
        assert message.startswith(f'plan.json: duplicate key "mode" at $.files[{element}] (line ')


def _cut_in(text: bytes) -> bytes:
    """The bytes between two elements that the chunked path cuts at."""
    middle = signature._CUT.search(text, len(text) // 2)
    assert middle is not None
    return middle.group()


def assert_chunked_up_to_the_scan_limit(
    monkeypatch: pytest.MonkeyPatch, document: Any, text: bytes, scanned: int
) -> None:
    """With ``_MAX_SCAN`` at ``scanned`` the chunked path is taken, one below it not;
    the signature is right either way."""
    for limit, chunked in ((scanned, True), (scanned - 1, False)):
        monkeypatch.setattr(signature, "_MAX_SCAN", limit)
        assert (signature._chunked_digest(text, "plan.json") is not None) == chunked
        assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.usefixtures("small_chunks")
def test_the_first_cut_may_lie_as_far_as_the_scan_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"head": ["x" * 10] * 100, "files": [{"path": f"f{i}"} for i in range(100)]}
    text = json.dumps(document).encode()
    first = text.find(_cut_in(text))

    assert_chunked_up_to_the_scan_limit(monkeypatch, document, text, first)


@pytest.mark.usefixtures("small_chunks")
def test_the_last_element_may_end_as_far_as_the_scan_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Elements longer than a chunk: each chunk is one element, the last one starting
    # after the last cut; its "]" is found by a scan of at most _MAX_SCAN bytes.
    files = [{"path": f"{i:0>250}"} for i in range(20)] + [{"path": "y" * 1000}]
    document = {"files": files}
    text = json.dumps(document).encode()
    cut = _cut_in(text)
    last_element = text.rfind(cut) + cut.index(b",") + 1
    scanned = text.rindex(b"]") - last_element

    assert_chunked_up_to_the_scan_limit(monkeypatch, document, text, scanned)


@pytest.mark.usefixtures("small_chunks")
def test_an_array_of_objects_cut_otherwise_is_not_taken_for_the_plans() -> None:
    # "root" holds objects too, but its elements are not separated by the cut found
    # in "files" (another first key): only the array that cut separates is chunked.
    document = {"root": [{"a": 1}, {"a": 2}], "files": [{"path": f"f{i}"} for i in range(100)]}
    text = json.dumps(document).encode()

    assert signature._chunked_digest(text, "plan.json") is not None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)


@pytest.mark.usefixtures("small_chunks")
def test_the_scan_for_the_array_reaches_a_chunk_past_the_first_cut() -> None:
    # The first cut is between the objects of a nested array (a.b); the plan's array,
    # shallower, is found if its first cut starts within _CHUNK bytes of that one.
    def text_with(pad: int) -> bytes:
        files = ", ".join(f'{{"k": {i}}}' for i in range(100))
        head = '{"a": {"b": [{"k": 1}, {"k": 2}]}, "pad": "' + "x" * pad + '", '
        return f'{head}"files": [{files}]}}'.encode()

    cut = b'}, {"k":'
    unpadded = text_with(0)
    first = unpadded.find(cut)
    plan_array_cut = unpadded.find(cut, unpadded.index(b'"files"'))
    reach = first + signature._CHUNK - plan_array_cut

    assert signature._chunked_digest(text_with(reach), "plan.json") is not None
    assert signature._chunked_digest(text_with(reach + 1), "plan.json") is None
    for text in (text_with(reach), text_with(reach + 1)):
        assert sign_plan_bytes(text, "plan.json") == reference_signature(json.loads(text))


class ChunkSpy:
    """Records what the chunked path parses: each piece's length and element count,
    and where ``_array_close_after`` found the array's end."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pieces: list[tuple[int, int | None]] = []
        self.closes: list[int | None] = []
        chunk, close_after = signature._canonical_chunk, signature._array_close_after

        def spy_chunk(raw: memoryview, array_depth: int) -> tuple[bytes, int, bool] | None:
            result = chunk(raw, array_depth)
            self.pieces.append((len(raw), None if result is None else result[1]))
            return result

        def spy_close(data: bytes, start: int) -> int | None:
            found = close_after(data, start)
            self.closes.append(found)
            return found

        monkeypatch.setattr(signature, "_canonical_chunk", spy_chunk)
        monkeypatch.setattr(signature, "_array_close_after", spy_close)

    def elements(self) -> int:
        """How many elements the pieces that parsed held."""
        return sum(count for _, count in self.pieces if count is not None)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("size", ["at the threshold", "below it"])
def test_plans_from_min_chunked_bytes_take_the_chunked_path(
    monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    document = {"files": [{"path": f"f{i}"} for i in range(100)]}
    text = json.dumps(document).encode()
    monkeypatch.setattr(signature, "_MIN_CHUNKED", len(text) + (size == "below it"))
    spy = ChunkSpy(monkeypatch)

    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)
    assert spy.elements() == (100 if size == "at the threshold" else 0)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("where", ["first", "just before the middle"])
def test_the_array_chunked_is_the_one_across_the_middle_of_the_file(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # A smaller array of objects before the plan's: reading it in chunks would give
    # the same signature, without the gain.
    files = [{"path": f"f{i}"} for i in range(100)]
    small = [{"a": 1}, {"a": 2}]
    if where == "first":
        document: dict[str, Any] = {"small": small, "files": files}
    else:
        pad = "x" * (len(json.dumps(files)) - 40)
        document = {"pad": pad, "small": small, "files": files}
    text = json.dumps(document).encode()
    if where != "first":
        assert len(text) // 3 < text.index(b'}, {"a"') < len(text) // 2
    spy = ChunkSpy(monkeypatch)

    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)
    assert spy.elements() == 100


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("key", ["a,b", "a, {b", '"a,"', "\\,"])
def test_a_first_key_holding_a_comma_is_cut_after_the_elements_comma(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    document = {"files": [{key: i, "path": f"f{i}"} for i in range(100)]}
    text = json.dumps(document).encode()
    spy = ChunkSpy(monkeypatch)

    assert signature._chunked_digest(text, "plan.json") is not None
    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)
    assert spy.elements() == 200  # each call above reads the 100 elements


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    "separators", [(",", ":"), (", ", ": "), (" ,\n ", " : ")], ids=["compact", "spaced", "odd"]
)
def test_the_arrays_end_is_found_first_from_the_last_cut(
    monkeypatch: pytest.MonkeyPatch, separators: tuple[str, str]
) -> None:
    # Then the chunks are hashed as they come, none kept: the first search, from
    # the last cut, finds the same "]" as the last chunk's.
    document = {"files": [{"path": f"f{i}", "n": [i]} for i in range(100)], "z": [1]}
    item, key = separators
    text = json.dumps(document, separators=(item.replace("\\n", "\n"), key)).encode()
    close = text.index(b"]", text.rindex(b'"path"'))
    close = text.index(b"]", close + 1)  # past the "n" array of the last element
    spy = ChunkSpy(monkeypatch)

    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)
    assert spy.closes == [close, close]


@pytest.mark.usefixtures("small_chunks")
def test_a_cut_inside_an_element_moves_to_the_next_cut_not_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nested arrays of lookalike objects: the cut after _CHUNK bytes may fall inside an
    # element; the next one is tried, and the pieces stay about _CHUNK bytes long.
    entries = [{"path": f"f{i}", "children": [{"path": "x"}, {"path": "y"}]} for i in range(200)]
    document = {"files": entries}
    text = json.dumps(document, separators=(",", ":")).encode()
    spy = ChunkSpy(monkeypatch)

    assert sign_plan_bytes(text, "plan.json") == reference_signature(document)
    assert spy.elements() == 200
    assert any(count is None for _, count in spy.pieces), "no cut fell inside an element"
    element = len(json.dumps(entries[0], separators=(",", ":")))
    assert max(length for length, _ in spy.pieces) < signature._CHUNK + 2 * element
