"""Building the request: the binding ID's path segment, the URL, the body."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from acp_cli.errors import UsageError
from acp_cli.request import (
    MAX_URL_LENGTH,
    binding_segment,
    prepare_request,
    push_sessions_url,
    request_body,
)

API = "https://api.example.com"
PREFIX = f"{API}/v1/workspace-bindings/"
SUFFIX = "/push-sessions"


@pytest.mark.parametrize(
    ("binding", "segment"),
    [
        ("wb_123", "wb_123"),
        ("a/b", "a%2Fb"),
        ("with space?#", "with%20space%3F%23"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("100%", "100%25"),
        ("é😀", "%C3%A9%F0%9F%98%80"),
    ],
)
def test_the_binding_id_is_one_path_segment(binding: str, segment: str) -> None:
    assert binding_segment(binding) == segment
    url = push_sessions_url(API, binding)
    assert url == PREFIX + segment + SUFFIX
    assert httpx.URL(url).raw_path.count(b"/") == 4  # as sent on the request line


@pytest.mark.parametrize(
    ("binding", "said"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("a\nb", "control characters"),
        ("a\x1b[2Jb", "control characters"),
        ("a\u009bb", "control characters"),
        ("a\u202eb", "control characters"),
        (os.fsdecode(b"a\xffb"), "not valid text"),  # argv bytes that are not UTF-8
        (os.fsdecode(b"\xed\xa0\x80"), "not valid text"),  # an encoded lone surrogate
        ("\ud800", "not valid text"),
    ],
)
def test_a_binding_id_that_is_not_text_is_refused(binding: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        push_sessions_url(API, binding)
    with pytest.raises(UsageError, match=said):
        binding_segment(binding)


def test_the_url_length_is_bounded_after_encoding() -> None:
    room = MAX_URL_LENGTH - len(PREFIX + SUFFIX)
    assert len(push_sessions_url(API, "w" * room)) == MAX_URL_LENGTH
    for binding in ("w" * (room + 1), "é" * (room // 6 + 1), "w" * 70_000):
        with pytest.raises(UsageError, match="The binding ID is too long") as caught:
            push_sessions_url(API, binding)
        assert caught.value.exit_code == 2
    # The API URL's own length counts too.
    with pytest.raises(UsageError, match="too long"):
        push_sessions_url(API + "/" + "p" * room, "wb_1")


def test_every_url_acp_accepts_is_one_httpx_accepts() -> None:
    room = MAX_URL_LENGTH - len(PREFIX + SUFFIX)
    httpx.Request("POST", push_sessions_url(API, "\U0001f600" * (room // 12)))


def test_the_plan_bytes_are_spliced_in_unchanged() -> None:
    plan = b'\xef\xbb\xbf  { "b" : [1.50, 1e2], "a": 99999999999999999999 }\n'
    body = request_body("sha256:x", plan, None)
    assert body == (
        b'{"planSignature":"sha256:x","plan":{ "b" : [1.50, 1e2], "a": 99999999999999999999 }}'
    )


def test_metadata_text_is_spliced_in_unchanged() -> None:
    metadata = b' {"build": 99999999999999999999, "ratio": 1.0, "n": {"deep": [1e2]}}\n'
    body = request_body("sha256:x", b"{}", metadata)
    assert body.endswith(
        b',"metadata":{"build": 99999999999999999999, "ratio": 1.0, "n": {"deep": [1e2]}}}'
    )
    assert json.loads(body)["metadata"]["build"] == 99999999999999999999


def test_a_metadata_mapping_is_written_exactly() -> None:
    body = request_body("sha256:x", b"{}", {"build": 99999999999999999999, "é": [1.5, None]})
    assert body.endswith(b',"metadata":{"build":99999999999999999999,"\xc3\xa9":[1.5,null]}}')
    assert b"metadata" not in request_body("sha256:x", b"{}", None)
    with pytest.raises(UsageError, match="lone surrogate"):
        request_body("sha256:x", b"{}", {"k": "\ud800"})


def test_the_request_has_the_documented_headers_and_masks_the_token() -> None:
    request = prepare_request(
        api_url=API, binding_id="a/b", token="tok_secret_123456", device_id="dev", body=b"{}"
    )
    assert request.method == "POST"
    assert request.url == PREFIX + "a%2Fb" + SUFFIX
    assert request.headers["Authorization"] == "Bearer tok_secret_123456"
    assert request.headers["ACP-Device-Id"] == "dev"
    assert request.headers["User-Agent"].startswith("acp-cli/")
    shown = request.masked_headers()
    assert "tok_secret_123456" not in json.dumps(shown)
    assert "tok_secret_123456" not in repr(request)
