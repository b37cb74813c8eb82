"""Metadata reaches the server as written: the file's text and --meta values, not re-serialized."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from acp_cli.cli.push_input import merge_metadata, parse_meta, read_metadata
from acp_cli.emulator import Emulator
from acp_cli.errors import UsageError
from tests.support.cli_runner import BINDING, run_acp

BIG = "99999999999999999999"


def read(tmp_path: Path, metadata: bytes | None, *meta: str) -> bytes | None:
    path = None
    if metadata is not None:
        path = tmp_path / "md.json"
        path.write_bytes(metadata)
    return read_metadata(None if path is None else str(path), meta, io.BytesIO())


def test_no_metadata_leaves_the_field_out(tmp_path: Path) -> None:
    assert read(tmp_path, None) is None


def test_the_metadata_file_is_kept_byte_for_byte(tmp_path: Path) -> None:
    text = f'{{"build": {BIG}, "ratio": 1.0, "one": 1, "e": 1E2,\n "n": {{"deep": [-0.0]}}}}\n'
    assert read(tmp_path, text.encode()) == text.encode()


def test_meta_values_keep_their_own_text_and_override_the_file(tmp_path: Path) -> None:
    file = f'{{"build": 1, "ratio": 1.0, "keep": {BIG}, "n": {{"a": [1.50]}}}}'.encode()
    merged = read(
        tmp_path,
        file,
        f"build:={BIG}",
        "ratio:= 1 ",
        'nested:={"x": [1.0, 2e0, {"y": 123456789012345678901234567890}]}',
        "branch=main",
        "emoji=😀",
    )
    assert merged == (
        b'{"build":' + BIG.encode() + b',"ratio":1,"keep":' + BIG.encode() + b',"n":{"a": [1.50]},'
        b'"nested":{"x": [1.0, 2e0, {"y": 123456789012345678901234567890}]},'
        b'"branch":"main","emoji":"\xf0\x9f\x98\x80"}'
    )
    assert json.loads(merged)["build"] == int(BIG)


def test_merged_keys_are_compared_as_the_parser_reads_them() -> None:
    # "\u0062uild" in the file is the key "build": --meta replaces it, not adds a twin.
    merged = merge_metadata(b'{"\\u0062uild": 1, "x": "\\u00e9"}', {"build": b"2"})
    assert merged == b'{"build":2,"x":"\\u00e9"}'
    assert merge_metadata(None, {"a": b"[]"}) == b'{"a":[]}'
    assert merge_metadata(b"{ }", {}) == b"{}"


@pytest.mark.parametrize(
    ("item", "said"),
    [
        ("n:=1e400", "number out of range"),
        ("n:=-1e400", "number out of range"),
        ("n:=NaN", "NaN and Infinity are not JSON numbers"),
        ('n:={"a": 1, "a": 2}', "duplicate key"),
        ("n:=[1,", "not valid JSON"),
        ("n:=", "is empty"),
        ('n:="\\ud800"', "lone UTF-16 surrogate"),
        (os.fsdecode(b'n:="\xff"'), "not valid UTF-8"),
        (os.fsdecode(b"n=\xff"), "not valid UTF-8"),
        (os.fsdecode(b"\xff=1"), "not valid UTF-8"),
        ("=1", "empty key"),
        ("novalue", "is not KEY=VALUE"),
    ],
)
def test_meta_values_are_as_strict_as_the_plan(item: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        parse_meta([item])


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b'{"n": 1e400}', "number out of range"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b"[1]", "must hold a JSON object"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a": 1} {}', "unexpected data"),
    ],
)
def test_the_metadata_file_is_as_strict_as_the_plan(tmp_path: Path, text: bytes, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        read(tmp_path, text)


def test_metadata_reaches_the_server_as_written(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, tmp_path: Path
) -> None:
    md = tmp_path / "md.json"
    md.write_text(f'{{"build": {BIG}, "ratio": 1.0, "tag": "a"}}')
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file), "--metadata", str(md),
        "--meta", f"more:={BIG}1", "--meta", "tag=b", "-o", "id", env=api_env,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    [sent] = emulator.requests()
    assert (sent.body or b"").endswith(
        b',"metadata":{"build":' + BIG.encode() + b',"ratio":1.0,"tag":"b",'
        b'"more":' + BIG.encode() + b"1}}"
    )
    [session] = emulator.sessions()
    assert session["metadata"] == {
        "build": int(BIG),
        "ratio": 1.0,
        "tag": "b",
        "more": int(BIG + "1"),
    }
