"""Property tests: our canonical form and signature against the ``rfc8785`` reference.

Generated documents lean on the places where fast JSON libraries differ from
RFC 8785: floats of every magnitude around ECMAScript's notation thresholds,
integers beyond 2^53 and 2^64, keys above U+FFFF next to keys in
U+E000-U+FFFF, escapes, and text that looks like numbers inside strings.
Example counts stay modest so the suite stays fast; raise them locally with
``--hypothesis-seed`` and a profile if a change touches the number or key code.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acp_cli import signature, strict_json
from acp_cli.errors import UsageError
from acp_cli.signature import canonical_json, plan_signature, sign_plan_bytes

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def bits_to_double(bits: int) -> float:
    value: float = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    return value


CHARACTERS = st.one_of(
    st.characters(max_codepoint=0x7F),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF, codec="utf-8"),
    st.characters(min_codepoint=0x10000, codec="utf-8"),
    st.characters(codec="utf-8"),
)
KEYS = st.text(CHARACTERS, max_size=4)
STRINGS = st.text(CHARACTERS, max_size=10) | st.sampled_from(
    ["1.0,", ":2.0}", "e+16]", ":1e-6,", '\\":3.0]', '"', "\\", "\\\\", '},{"path":', "-0.0]"]
)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 2**64 - 1).map(bits_to_double).filter(math.isfinite),
    st.integers(-(2**60), 2**60).map(float),
    # m * 10^e around every notation threshold (1e-7, 1e-6, 1e16, 1e21).
    st.builds(lambda m, e: m * 10.0**e, st.integers(-99999, 99999), st.integers(-30, 30)),
    st.sampled_from([1e21, 1e20, 1e16, 1e15, 1e-5, 1e-6, 1e-7, 5e-324, -0.0, 9.999999999999999e20]),
)
INTEGERS = st.one_of(
    st.integers(-(2**53), 2**53),
    st.integers(-(2**70), 2**70),
    st.integers(-(10**300), 10**300),
)
SCALARS = st.none() | st.booleans() | INTEGERS | FLOATS | STRINGS
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=25,
)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=5)


def reference(value: Any) -> bytes:
    """``rfc8785.dumps``, given big integers as the doubles RFC 8785 says they are."""
    return rfc8785.dumps(as_reference_input(value))


def as_reference_input(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: as_reference_input(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_reference_input(item) for item in value]
    if type(value) is int and abs(value) >= 2**53:
        return float(value)
    return value


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Writer:
    """Writes JSON as many different programs would: any key order, spacing, escaping
    and number notation. Optionally repeats one key of the n-th object it writes."""

    def __init__(self, rnd: random.Random, duplicate_in: int | None = None) -> None:
        self.rnd = rnd
        self.duplicate_in = duplicate_in
        self.objects_written = 0
        self.duplicate: tuple[str, str] | None = None  # key and JSON path, once written

    def space(self) -> str:
        return self.rnd.choice(["", "", " ", "\n", "\t", "\r\n  "])

    def write(self, value: Any, path: str = "$") -> str:
        if isinstance(value, dict):
            return self.write_object(value, path)
        if isinstance(value, list):
            items = [self.write(item, f"{path}[{i}]") for i, item in enumerate(value)]
            return "[" + ",".join(self.space() + item + self.space() for item in items) + "]"
        if isinstance(value, str):
            return self.write_string(value)
        if value is True or value is False or value is None:
            return json.dumps(value)
        if isinstance(value, int):
            return str(value) + self.rnd.choice(["", "", ".0", "e0", "E+00", ".000e-0"])
        return self.rnd.choice([repr(value), format(value, ".17g"), repr(value).upper()])

    def write_object(self, value: dict[str, Any], path: str) -> str:
        index = self.objects_written
        self.objects_written += 1
        pairs = [
            (key, self.write(item, path + path_step(key)))
            for key, item in self.rnd.sample(list(value.items()), len(value))
        ]
        if index == self.duplicate_in and pairs:
            key = pairs[0][0]
            pairs.insert(self.rnd.randrange(1, len(pairs) + 1), (key, "null"))
            self.duplicate = (key, path)
        members = [
            self.space() + self.write_string(key) + self.space() + ":" + self.space() + text
            for key, text in pairs
        ]
        return "{" + ",".join(members) + self.space() + "}"

    def write_string(self, text: str) -> str:
        return '"' + "".join(self.escape(char) for char in text) + '"'

    def escape(self, char: str) -> str:
        short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
        if char in short and (char in '"\\' or self.rnd.random() < 0.5):
            return short[char]
        if ord(char) < 0x20 or self.rnd.random() < 0.15:
            units = char.encode("utf-16-be")
            hex_case = self.rnd.choice([str.lower, str.upper])
            return "".join(
                "\\u" + hex_case(units[i : i + 2].hex()) for i in range(0, len(units), 2)
            )
        if char == "/" and self.rnd.random() < 0.5:
            return "\\/"
        return char


def path_step(key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return "." + key
    return "[" + orjson.dumps(key).decode() + "]"


@contextmanager
def small_chunks() -> Iterator[None]:
    """Run the large-plan (chunked) path on small documents."""
    with (
        mock.patch.object(signature, "_MIN_CHUNKED", 0),
        mock.patch.object(signature, "_CHUNK", 64),
    ):
        yield


# --- properties --------------------------------------------------------------------------


@FAST
@given(value=VALUES)
def test_canonical_json_matches_the_reference(value: Any) -> None:
    assert canonical_json(value) == reference(value)


@FAST
@given(value=FLOATS)
def test_every_double_is_written_as_ecmascript_does(value: float) -> None:
    assert canonical_json([value]) == reference([value])
    # The notation read back is the same double.
    assert canonical_json(strict_json.parse_value(canonical_json(value), "n")) == canonical_json(
        value
    )


@FAST
@given(value=st.integers(-(10**300), 10**300) | st.integers(-(2**66), 2**66))
def test_integers_beyond_the_safe_range_become_the_nearest_double(value: int) -> None:
    expected = reference(value)

    assert canonical_json(value) == expected
    assert canonical_json(strict_json.parse_value(str(value), "n")) == expected


@FAST
@given(document=DOCUMENTS, rnd=st.randoms(use_true_random=False))
def test_signature_does_not_depend_on_how_the_plan_is_written(
    document: dict[str, Any], rnd: random.Random
) -> None:
    text = Writer(rnd).write(document).encode("utf-8")
    expected = sha(reference(document))

    assert sign_plan_bytes(text, "plan.json") == expected
    assert plan_signature(strict_json.parse_object(text, "plan.json")) == expected


@FAST
@given(document=DOCUMENTS, rnd=st.randoms(use_true_random=False), which=st.integers(0, 20))
def test_a_duplicate_key_anywhere_is_found_and_located(
    document: dict[str, Any], rnd: random.Random, which: int
) -> None:
    writer = Writer(rnd, duplicate_in=which)
    text = writer.write(document).encode("utf-8")
    if writer.duplicate is None:
        assert strict_json.parse_object(text, "plan.json") is not None
        return
    key, path = writer.duplicate

    with pytest.raises(UsageError) as raised:
        strict_json.parse_object(text, "plan.json")

    assert f"duplicate key {orjson.dumps(key).decode()} at {path} (" in raised.value.message
    with pytest.raises(UsageError):
        sign_plan_bytes(text, "plan.json")


SMALL_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=6,
)
ELEMENTS = st.builds(
    lambda path, rest: {"path": path, **rest},
    STRINGS,
    st.dictionaries(KEYS.filter(lambda key: key != "path"), SMALL_VALUES, max_size=3),
)
PLANS = st.builds(
    lambda files, head, tail: {**head, "files": files, **tail},
    st.lists(ELEMENTS, min_size=2, max_size=12),
    st.dictionaries(KEYS.filter(lambda key: key != "files"), SMALL_VALUES, max_size=2),
    st.dictionaries(KEYS.filter(lambda key: key != "files"), SMALL_VALUES, max_size=2),
)


@FAST
@given(
    document=PLANS,
    indent=st.sampled_from([None, 0, 1, "\t"]),
    ascii_only=st.booleans(),
    newline=st.sampled_from([b"\n", b"\r\n"]),
)
def test_chunked_signing_matches_the_reference(
    document: dict[str, Any], indent: int | str | None, ascii_only: bool, newline: bytes
) -> None:
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only).encode("utf-8")
    text = text.replace(b"\n", newline)

    with small_chunks():
        assert sign_plan_bytes(text, "plan.json") == sha(reference(document))


@FAST
@given(
    document=PLANS, cut=st.integers(0, 10**6), size=st.integers(1, 3), insert=st.binary(max_size=3)
)
def test_chunked_and_whole_document_reading_agree_on_damaged_plans(
    document: dict[str, Any], cut: int, size: int, insert: bytes
) -> None:
    text = json.dumps(document, indent=1).encode("utf-8")
    at = cut % len(text)
    damaged = text[:at] + insert + text[at + size :]

    try:
        expected: str | None = plan_signature(strict_json.parse_object(damaged, "plan.json"))
        message = None
    except UsageError as exc:
        expected, message = None, exc.message
    with small_chunks():
        try:
            got: str | None = sign_plan_bytes(damaged, "plan.json")
            got_message = None
        except UsageError as exc:
            got, got_message = None, exc.message

    assert (got, got_message) == (expected, message)


@FAST
@given(document=PLANS, which=st.integers(0, 11), indent=st.sampled_from([None, 1]))
def test_duplicates_are_reported_alike_by_chunked_and_whole_reading(
    document: dict[str, Any], which: int, indent: int | None
) -> None:
    text = json.dumps(document, indent=indent, ensure_ascii=False).encode("utf-8")
    occurrences = text.count(b'"path": ')
    at = -1
    for _ in range(which % occurrences + 1):
        at = text.index(b'"path": ', at + 1)
    damaged = text[:at] + b'"path": 0, ' + text[at:]

    with pytest.raises(UsageError) as whole:
        strict_json.parse_object(damaged, "plan.json")
    with small_chunks(), pytest.raises(UsageError) as chunked:
        sign_plan_bytes(damaged, "plan.json")

    assert chunked.value.message == whole.value.message
    assert 'duplicate key "path"' in whole.value.message
