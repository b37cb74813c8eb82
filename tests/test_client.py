"""The typed Python API (`acp_cli.Client`, `plan_signature`, the error tree) against the
emulator over loopback, as a build script would use it."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import acp_cli
from acp_cli import (
    AcpError,
    AuthError,
    Client,
    ConfigError,
    NotFoundError,
    PreparedPushSession,
    SignedPlan,
    UnavailableError,
    UsageError,
    plan_signature,
)
from acp_cli.client import sign_plan
from acp_cli.emulator import Emulator
from acp_cli.emulator.endpoint import reference_signature
from acp_cli.retry import RetryPolicy
from tests.support.cli_runner import BINDING, TOKEN
from tests.support.file_opens import opens_of

PLAN: dict[str, Any] = {"files": [{"path": "a.txt", "size": 3}], "root": "/w"}


@pytest.fixture
def client(emulator: Emulator) -> Client:
    return Client(emulator.url, TOKEN, device_id="dev_1", retry=RetryPolicy(scale=0))


def test_prepare_makes_a_new_session_then_reuses_it(client: Client, emulator: Emulator) -> None:
    first = client.prepare_push_session(BINDING, PLAN)
    second = client.prepare_push_session(BINDING, PLAN)

    [stored] = emulator.sessions()
    assert isinstance(first, PreparedPushSession)
    assert (first.created, first.http_status) == (True, 201)
    assert (second.created, second.http_status) == (False, 200)
    assert first.id == second.id == stored["id"]
    assert first.workspace_binding_id == BINDING
    assert first.device_id == "dev_1"
    assert first.status == "prepared"
    assert first.plan_signature == reference_signature(PLAN)
    assert first.plan == PLAN
    assert first.user_id == stored["userId"]
    assert first.environment_id == stored["environmentId"]
    assert first.project_id == stored["projectId"]
    assert first.created_at == stored["createdAt"]
    assert first.updated_at == stored["updatedAt"]
    assert (first.request_id or "").startswith("req_")
    assert first.raw == json.loads(first.body)
    assert first.raw["pushSession"]["id"] == first.id


def test_a_plan_is_a_path_a_pathlike_bytes_a_binary_file_or_a_mapping(tmp_path: Path) -> None:
    text = b'{ "root": "/w",\n  "files": [{"size": 3, "path": "a.txt"}] }\n'
    path = tmp_path / "plan.json"
    path.write_bytes(text)
    expected = reference_signature(json.loads(text))

    assert plan_signature(path) == expected
    assert plan_signature(str(path)) == expected
    assert plan_signature(text) == expected
    assert plan_signature(io.BytesIO(text)) == expected
    with path.open("rb") as file:
        assert sign_plan(file) == SignedPlan(text, expected)
    assert plan_signature(json.loads(text)) == expected


def test_a_bad_plan_read_from_a_file_object_is_named_after_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b'{"files": [], "files": []}')
    with path.open("rb") as file, pytest.raises(UsageError, match=re.escape(str(path))):
        sign_plan(file)
    with pytest.raises(UsageError, match="the plan"):
        sign_plan(io.BytesIO(b"[]"))


@pytest.mark.parametrize("form", ["path", "bytes", "mapping", "signed"])
def test_every_plan_form_reaches_the_server_with_the_same_signature(
    client: Client, emulator: Emulator, tmp_path: Path, form: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    signed = SignedPlan(path.read_bytes(), plan_signature(path))
    plan: Any = {"path": path, "bytes": path.read_bytes(), "mapping": PLAN, "signed": signed}[form]

    session = client.prepare_push_session(BINDING, plan)

    [request] = emulator.requests()
    body = request.json()
    assert body["planSignature"] == reference_signature(PLAN) == session.plan_signature
    assert body["plan"] == PLAN


def test_metadata_none_leaves_the_field_out_and_a_mapping_is_sent(
    client: Client, emulator: Emulator
) -> None:
    client.prepare_push_session(BINDING, PLAN)
    client.prepare_push_session(BINDING, {**PLAN, "n": 2}, metadata={"build": 10**20})

    first, second = (r.json() for r in emulator.requests())
    assert "metadata" not in first
    assert second["metadata"] == {"build": 10**20}


def test_the_device_id_header_is_left_out_when_none_is_given(emulator: Emulator) -> None:
    Client(emulator.url, TOKEN, retry=RetryPolicy(scale=0)).prepare_push_session(BINDING, PLAN)
    [request] = emulator.requests()
    assert "acp-device-id" not in {name.lower() for name, _ in request.headers}


def test_errors_are_typed_with_exit_code_hint_and_request_id(emulator: Emulator) -> None:
    refused = Client(emulator.url, "wrong-token", retry=RetryPolicy(scale=0))
    with pytest.raises(AuthError) as auth:
        refused.prepare_push_session(BINDING, PLAN)
    assert auth.value.exit_code == 3
    assert (auth.value.request_id or "").startswith("req_")
    assert auth.value.hint

    client = Client(emulator.url, TOKEN, retry=RetryPolicy(scale=0))
    with pytest.raises(NotFoundError) as missing:
        client.prepare_push_session("wb_unknown", PLAN)
    assert missing.value.exit_code == 4
    assert isinstance(missing.value, AcpError)


@pytest.mark.parametrize(
    "plan",
    [b'{"a": 1, "a": 2}', b"[1, 2]", b'{"x": NaN}', b"{", {"x": float("nan")}],
    ids=["duplicate-key", "not-an-object", "nan", "truncated", "nan-mapping"],
)
def test_a_plan_without_one_canonical_form_is_refused_before_sending(
    client: Client, emulator: Emulator, plan: Any
) -> None:
    with pytest.raises(UsageError) as refused:
        client.prepare_push_session(BINDING, plan)
    assert refused.value.exit_code == 2
    assert emulator.requests() == []


def test_a_bad_api_url_or_token_is_refused_when_the_client_is_built() -> None:
    with pytest.raises(ConfigError):
        Client("http://example.com", TOKEN)  # plain http off loopback
    with pytest.raises(AcpError) as bad_token:
        Client("https://api.example.com", "tok\nen")
    assert "tok\nen" not in str(bad_token.value)


def test_an_unreachable_server_is_unavailable_after_the_retries(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", TOKEN, retry=RetryPolicy(scale=0))
    with pytest.raises(UnavailableError) as failed:
        client.prepare_push_session(BINDING, PLAN)
    assert failed.value.exit_code == 6


def test_from_config_resolves_as_the_cli_does(emulator: Emulator, isolated_env: Path) -> None:
    isolated_env.mkdir(mode=0o700)
    (isolated_env / "config.toml").write_text(
        f'[profiles.ci]\napi_url = "{emulator.url}"\ntimeout = 7\n', encoding="utf-8"
    )
    env = {**os.environ, "ACP_TOKEN": TOKEN, "ACP_DEVICE_ID": "dev_ci"}

    client = Client.from_config("ci", env)
    session = client.prepare_push_session(BINDING, PLAN)

    assert client.api_url == emulator.url
    assert client.timeout == 7
    assert session.device_id == "dev_ci"
    # A keyword (a flag) wins over the profile.
    assert Client.from_config("ci", env, timeout=3).timeout == 3
    ca_file = isolated_env / "ca.pem"
    ca_file.write_text("", encoding="utf-8")
    flagged = Client.from_config("ci", env, connect_timeout=2, deadline=9, ca_bundle=ca_file)
    assert (flagged.connect_timeout, flagged.retry.deadline, flagged.ca_bundle) == (2, 9, ca_file)


def test_from_config_reads_config_toml_once_for_the_settings_and_the_device_id(
    isolated_env: Path,
) -> None:
    isolated_env.mkdir(mode=0o700)
    config = isolated_env / "config.toml"
    config.write_text(
        'device_id = "dev_stored"\n[profiles.ci]\napi_url = "https://api.example.com"\n',
        encoding="utf-8",
    )

    with opens_of(config) as opened:
        client = Client.from_config("ci", {**os.environ, "ACP_TOKEN": TOKEN})

    assert client.device_id == "dev_stored"
    assert opened == ["r"]


def test_the_keywords_of_from_config_are_the_network_settings() -> None:
    """`Client.from_config` takes a keyword for each setting that the commands that send
    have a network option for: the registry names them, the keywords must follow."""
    from acp_cli.client import NetworkFlags
    from acp_cli.settings import NETWORK

    assert list(NetworkFlags.__annotations__) == [setting.name for setting in NETWORK]


def test_from_config_without_an_api_url_says_how_to_set_one() -> None:
    with pytest.raises(ConfigError) as missing:
        Client.from_config(env={"ACP_TOKEN": TOKEN, "ACP_CONFIG_DIR": os.environ["ACP_CONFIG_DIR"]})
    assert "acp config set api_url" in (missing.value.hint or "")


def test_the_library_prints_nothing(
    client: Client, capfd: pytest.CaptureFixture[str], emulator: Emulator
) -> None:
    client.prepare_push_session(BINDING, PLAN)
    with pytest.raises(NotFoundError):
        client.prepare_push_session("wb_unknown", PLAN)
    assert capfd.readouterr() == ("", "")


def test_the_token_is_not_in_the_clients_repr(client: Client) -> None:
    assert TOKEN not in repr(client)
    assert TOKEN not in repr(vars(client).get("retry"))


def test_every_exported_name_is_importable() -> None:
    for name in acp_cli.__all__:
        assert getattr(acp_cli, name) is not None
    with pytest.raises(AttributeError):
        acp_cli.NoSuchName  # noqa: B018


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def test_importing_acp_cli_is_cheap() -> None:
    loaded = _modules_after("import acp_cli; acp_cli.Client; acp_cli.AcpError")
    assert "acp_cli.client" in loaded  # the names really were loaded
    for heavy in ("httpx", "rich", "keyring", "typer", "tomlkit", "platformdirs"):
        assert heavy not in loaded


def test_a_client_given_a_token_never_touches_the_keyring(emulator: Emulator) -> None:
    code = (
        "import sys; from acp_cli import Client; from acp_cli.retry import RetryPolicy\n"
        f"Client({emulator.url!r}, {TOKEN!r}, retry=RetryPolicy(scale=0))"
        f".prepare_push_session({BINDING!r}, {{'files': []}})\n"
        "assert 'keyring' not in sys.modules, 'keyring was imported'\n"
    )
    loaded = _modules_after(code)
    assert "httpx" in loaded  # it really sent
    assert "keyring" not in loaded
    [session] = emulator.sessions()
    assert session["planSignature"] == reference_signature({"files": []})


def test_a_plan_built_from_a_folder_is_sent_as_built(
    client: Client, emulator: Emulator, tmp_path: Path
) -> None:
    from acp_cli import build_plan

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "a.txt").write_text("a\n")
    built = build_plan(tmp_path / "work", cache=False)

    first = client.prepare_push_session(BINDING, built)
    again = client.prepare_push_session(BINDING, built.data)  # the same plan as bytes

    [request, _] = emulator.requests()
    assert request.json()["plan"] == json.loads(built.data)
    assert first.plan_signature == built.signature == again.plan_signature
    assert (first.created, again.created) == (True, False)


@pytest.mark.parametrize("depth", [1000, 1023, 1024])
def test_a_plan_as_deep_as_acp_accepts_comes_back_readable(
    client: Client, emulator: Emulator, depth: int
) -> None:
    # The answer holds the plan two levels down, beyond orjson's own limit.
    plan_text = b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    session = client.prepare_push_session(BINDING, plan_text)
    assert session.created
    assert session.plan_signature == plan_signature(plan_text)
    [stored] = emulator.sessions()
    assert stored["id"] == session.id


def test_a_plan_path_of_dash_is_a_file_named_dash(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_text(json.dumps(PLAN))
    assert plan_signature("-") == reference_signature(PLAN)
    assert client.prepare_push_session(BINDING, "-").created


@pytest.mark.parametrize(
    "metadata",
    [{"x": float("nan")}, {"x": float("inf")}, {"when": object()}, {"s": {1, 2}}, {"t": "\ud800"}],
    ids=["nan", "infinity", "object", "set", "lone-surrogate"],
)
def test_metadata_without_a_json_form_is_refused_before_sending(
    client: Client, emulator: Emulator, metadata: dict[str, Any]
) -> None:
    with pytest.raises(UsageError, match="metadata"):
        client.prepare_push_session(BINDING, PLAN, metadata=metadata)
    assert emulator.requests() == []


def test_a_session_is_a_value_equal_to_the_same_answer_and_hashable(
    client: Client, emulator: Emulator
) -> None:
    first = client.prepare_push_session(BINDING, PLAN, metadata={"branch": "main"})
    again = client.prepare_push_session(BINDING, PLAN)
    # The same answer, read twice: equal, with equal hashes.
    copy = dataclasses.replace(first, raw=json.loads(first.body))
    assert copy is not first
    assert copy == first
    assert hash(copy) == hash(first)
    # The same session in another answer: not equal; its ID says it is the same session.
    assert again != first
    assert again.id == first.id
    assert len({first, again, copy}) == 2
    assert {first: "kept"}[copy] == "kept"
    # Every field is compared: one that differs makes another value.
    for field in dataclasses.fields(PreparedPushSession):
        changed: dict[str, Any] = {field.name: object()}
        assert dataclasses.replace(first, **changed) != first, field.name


def test_the_hash_leaves_out_exactly_the_mappings_and_every_other_field_is_hashable(
    client: Client,
) -> None:
    session = client.prepare_push_session(BINDING, PLAN, metadata={"branch": "main"})
    fields = dataclasses.fields(PreparedPushSession)
    mappings = {f.name for f in fields if isinstance(getattr(session, f.name), Mapping)}
    assert mappings == {"plan", "metadata", "raw"}
    assert {f.name for f in fields if f.hash is False} == mappings
    assert all(f.compare for f in fields)
    for field in fields:
        if field.name not in mappings:
            hash(getattr(session, field.name))
    before = hash(session)
    session.raw["pushSession"]["note"] = "changed by the caller"
    assert hash(session) == before
