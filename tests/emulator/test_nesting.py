"""Deeply nested plans and metadata: the emulator takes everything the client may send.

The client signs plans nested up to 1,024 levels (``acp_cli.strict_json.MAX_DEPTH``)
and refuses deeper ones; the emulator must agree on both sides of that line,
however its own JSON code recurses.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from acp_cli import strict_json
from acp_cli.emulator import Emulator, EmulatorClient
from acp_cli.emulator.nesting import (
    MAX_METADATA_DEPTH,
    MAX_PLAN_DEPTH,
    deep_recursion,
    nesting_depth,
)
from acp_cli.errors import UsageError
from acp_cli.signature import sign_plan_bytes
from tests.support.emulator_http import TOKEN, endpoint

BINDING = "wb_deep"


def nested_object(depth: int) -> str:
    """A JSON object nested ``depth`` levels: ``{"k":{"k":...{}}}``."""
    return '{"k":' * (depth - 1) + "{}" + "}" * (depth - 1)


def nested_plan_with_arrays(depth: int) -> str:
    """A plan object whose value under ``files`` is arrays nested to ``depth`` in all."""
    return '{"files":' + "[" * (depth - 1) + '"a.txt"' + "]" * (depth - 1) + "}"


def body_text(plan: str, signature: str, metadata: str | None = None) -> str:
    """A request body with the plan's text spliced in, as the client builds it."""
    text = f'{{"planSignature":"{signature}","plan":{plan}'
    return text + (f',"metadata":{metadata}}}' if metadata is not None else "}")


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    """A client for ``emu`` that sends JSON with the token."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=emu.url, headers=headers, timeout=30) as client:
        yield client


def parse_deep(text: str) -> Any:
    """Parse an answer that nests deeper than the test thread's recursion limit allows."""
    with deep_recursion():
        return json.loads(text)


def test_the_limits_are_the_clients() -> None:
    assert MAX_PLAN_DEPTH == strict_json.MAX_DEPTH == 1024
    sign_plan_bytes(nested_object(MAX_PLAN_DEPTH).encode(), "plan.json")
    with pytest.raises(UsageError, match="nested deeper than 1024 levels"):
        sign_plan_bytes(nested_object(MAX_PLAN_DEPTH + 1).encode(), "plan.json")
    # A --meta value may nest as deep as a plan, one level below its key.
    deepest_value = "[" * MAX_PLAN_DEPTH + "]" * MAX_PLAN_DEPTH
    assert nesting_depth({"key": strict_json.parse_value(deepest_value, "--meta key")}) == (
        MAX_METADATA_DEPTH
    )


@pytest.mark.parametrize("depth", [0, 1, 2, 980, 1024, 50_000])
def test_nesting_depth_counts_levels_without_recursing(depth: int) -> None:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    assert nesting_depth(value) == depth


@pytest.mark.parametrize("depth", [980, 981, 1000, 1023, 1024])
@pytest.mark.parametrize("make_plan", [nested_object, nested_plan_with_arrays])
def test_plans_the_client_signs_are_accepted_at_any_depth_up_to_the_limit(
    http: httpx.Client, emu: Emulator, depth: int, make_plan: Callable[[int], str]
) -> None:
    plan = make_plan(depth)
    # Signed by the client; the emulator recomputes it with rfc8785 and must agree.
    signature = sign_plan_bytes(plan.encode(), "plan.json")
    response = http.post(endpoint(BINDING), content=body_text(plan, signature))
    assert response.status_code == 201, response.text[:300]
    session = parse_deep(response.text)["pushSession"]
    assert session["planSignature"] == signature
    assert nesting_depth(session["plan"]) == depth
    # Every way of reading the session back handles the depth too.
    assert emu.sessions()[0]["id"] == session["id"]
    assert nesting_depth(EmulatorClient(emu.url).sessions()[0]["plan"]) == depth
    assert nesting_depth(emu.requests()[0].json()) == depth + 1
    # The same plan again reuses the session: the stored plan signs the same.
    again = http.post(endpoint(BINDING), content=body_text(plan, signature))
    assert again.status_code == 200


def test_a_wrong_signature_on_a_deep_plan_is_a_mismatch_naming_the_right_one(
    http: httpx.Client, emu: Emulator
) -> None:
    plan = nested_object(MAX_PLAN_DEPTH)
    right = sign_plan_bytes(plan.encode(), "plan.json")
    response = http.post(endpoint(BINDING), content=body_text(plan, "sha256:" + "0" * 64))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "plan_signature_mismatch"
    assert right in response.json()["error"]["message"]
    assert emu.sessions() == []


@pytest.mark.parametrize("depth", [1025, 1026, 1100, 2500, 100_000])
@pytest.mark.parametrize("make_plan", [nested_object, nested_plan_with_arrays])
def test_plans_deeper_than_the_client_allows_are_refused_clearly(
    http: httpx.Client, emu: Emulator, depth: int, make_plan: Callable[[int], str]
) -> None:
    response = http.post(endpoint(BINDING), content=body_text(make_plan(depth), "sha256:00"))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "1024" in error["message"]
    assert "recursion" not in error["message"]
    assert emu.sessions() == []
    assert http.get("/_emulator/requests").status_code == 200


@pytest.mark.parametrize(
    ("depth", "status"), [(MAX_METADATA_DEPTH - 1, 201), (MAX_METADATA_DEPTH, 201), (1026, 422)]
)
def test_metadata_is_accepted_as_deep_as_a_meta_value_makes_it(
    http: httpx.Client, emu: Emulator, depth: int, status: int
) -> None:
    plan = '{"files":[]}'
    metadata = '{"key":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    signature = sign_plan_bytes(plan.encode(), "plan.json")
    response = http.post(endpoint(BINDING), content=body_text(plan, signature, metadata))
    assert response.status_code == status, response.text[:300]
    if status == 201:
        assert nesting_depth(emu.sessions()[0]["metadata"]) == depth
    else:
        assert "metadata is nested deeper than 1025 levels" in response.json()["error"]["message"]
        assert emu.sessions() == []


def test_concurrent_deep_requests_all_succeed_and_the_recursion_limit_is_restored(
    emu: Emulator,
) -> None:
    limit = sys.getrecursionlimit()
    statuses: list[int] = []

    def push(index: int) -> None:
        plan = nested_object(MAX_PLAN_DEPTH - index)
        signature = sign_plan_bytes(plan.encode(), "plan.json")
        response = httpx.post(
            emu.url + endpoint(f"wb_{index}"),
            content=body_text(plan, signature),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            timeout=60,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=push, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 6
    assert sys.getrecursionlimit() == limit
