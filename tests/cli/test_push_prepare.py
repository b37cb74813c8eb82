"""`acp push prepare` end to end: the real entry point against the emulator over loopback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from acp_cli import __version__
from acp_cli.emulator import Emulator
from acp_cli.emulator.endpoint import reference_signature
from tests.support.cli_runner import (
    ACP,
    BINDING,
    TOKEN,
    Run,
    modules_after_console_script,
    run_acp,
)


def prepare(*args: str, env: dict[str, str], stdin: bytes | str | None = None) -> Run:
    run = run_acp("push", "prepare", *args, env=env, stdin=stdin)
    assert TOKEN not in run.output, "the token leaked into the output"
    return run


# --- the main job -----------------------------------------------------------------------


def test_first_run_prepares_a_new_session_and_second_reuses_it(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    first = prepare(BINDING, "--plan", str(plan_file), env=api_env)
    second = prepare(BINDING, "--plan", str(plan_file), env=api_env)

    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    assert first.stdout.startswith("New push session for binding")
    assert second.stdout.startswith("Reused push session for binding")
    [session] = emulator.sessions()
    assert session["status"] == "prepared"
    for run in (first, second):
        assert f"ID:             {session['id']}\n" in run.stdout
        assert f"Plan signature: {session['planSignature']}\n" in run.stdout
        assert "\x1b[" not in run.stdout  # not a terminal: no colour codes
    assert first.stderr == second.stderr == ""


def test_request_shape_is_exact(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare(BINDING, "--plan", str(plan_file), "-o", "id", env=api_env)
    assert run.code == 0, run.stderr

    [request] = emulator.requests()
    plan_bytes = plan_file.read_bytes()
    plan = json.loads(plan_bytes)
    expected_body = (
        b'{"planSignature":"'
        + reference_signature(plan).encode()
        + b'","plan":'
        + plan_bytes.strip()
        + b"}"
    )
    assert request.method == "POST"
    assert request.target == f"/v1/workspace-bindings/{BINDING}/push-sessions"
    assert request.body == expected_body
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Accept") == "application/json"
    assert str(request.header("User-Agent")).startswith(f"acp-cli/{__version__} (Python 3.")
    config = (Path(os.environ["ACP_CONFIG_DIR"]) / "config.toml").read_text()
    assert f'device_id = "{request.header("ACP-Device-Id")}"' in config


def test_plan_from_standard_input(emulator: Emulator, api_env: dict[str, str]) -> None:
    plan = b'{"b": [1, 2.50, 1e21], "a": "\\u00e9"}'
    run = prepare(BINDING, "--plan", "-", "--json", env=api_env, stdin=plan)
    assert run.code == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["created"] is True
    assert answer["pushSession"]["planSignature"] == reference_signature(json.loads(plan))


def test_json_output_is_the_server_answer_and_nothing_else(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare(BINDING, "--plan", str(plan_file), "--json", env=api_env)
    again = prepare(BINDING, "--plan", str(plan_file), "-o", "json", env=api_env)
    first, second = json.loads(run.stdout), json.loads(again.stdout)
    assert first["created"] is True
    assert second["created"] is False
    assert first["pushSession"]["id"] == second["pushSession"]["id"]
    assert run.stderr == again.stderr == ""


def test_id_output_is_the_session_id_alone(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare(BINDING, "--plan", str(plan_file), "-o", "id", env=api_env)
    [session] = emulator.sessions()
    assert run.stdout == session["id"] + "\n"


def test_metadata_file_and_meta_options_merge(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, tmp_path: Path
) -> None:
    meta_file = tmp_path / "meta.json"
    meta_file.write_text('{"branch": "dev", "ci": true, "keep": [1]}')
    run = prepare(
        BINDING,
        "--plan",
        str(plan_file),
        "--metadata",
        str(meta_file),
        "--meta",
        "branch=main",
        "--meta",
        "attempt:=3",
        "--meta",
        "note=a=b:=c",
        "--meta",
        'extra:={"x": null}',
        "--json",
        env=api_env,
    )
    assert run.code == 0, run.stderr
    sent = emulator.requests()[0].json()
    assert sent["metadata"] == {
        "branch": "main",
        "ci": True,
        "keep": [1],
        "attempt": 3,
        "note": "a=b:=c",
        "extra": {"x": None},
    }
    assert json.loads(run.stdout)["pushSession"]["metadata"] == sent["metadata"]


def test_without_metadata_the_field_is_left_out(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    prepare(BINDING, "--plan", str(plan_file), "-o", "id", env=api_env)
    assert "metadata" not in emulator.requests()[0].json()


@pytest.mark.parametrize(
    ("binding", "segment"),
    [("a/b", "a%2Fb"), ("..", "%2E%2E"), ("with space?#", "with%20space%3F%23")],
)
def test_binding_id_is_always_one_path_segment(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, binding: str, segment: str
) -> None:
    run = prepare(binding, "--plan", str(plan_file), "--json", env=api_env)
    assert run.code == 0, run.stderr
    assert emulator.requests()[0].target == f"/v1/workspace-bindings/{segment}/push-sessions"
    assert json.loads(run.stdout)["pushSession"]["workspaceBindingId"] == binding


def test_a_changed_plan_makes_a_new_session(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"files": [{"path": "b.txt"}]}')
    first = prepare(BINDING, "--plan", str(plan_file), "-o", "id", env=api_env)
    second = prepare(BINDING, "--plan", str(other), env=api_env)
    assert second.stdout.startswith("New push session for binding")
    statuses = {s["id"]: s["status"] for s in emulator.sessions()}
    assert statuses[first.stdout.strip()] == "superseded"


def test_same_plan_in_another_key_order_and_spacing_is_reused(
    emulator: Emulator, api_env: dict[str, str], tmp_path: Path
) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text('{"a": 1.0, "b": ["\\u00e9", 1e-7], "c": {"y": 2, "x": 1}}')
    two.write_text('{\n  "c": {"x": 1, "y": 2.0},\n  "b": ["é", 0.0000001],\n  "a": 1\n}\n')
    prepare(BINDING, "--plan", str(one), env=api_env)
    second = prepare(BINDING, "--plan", str(two), env=api_env)
    assert second.code == 0, second.stderr
    assert second.stdout.startswith("Reused")


def test_dry_run_sends_nothing_and_masks_the_token(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare(BINDING, "--plan", str(plan_file), "--dry-run", env=api_env)
    assert run.code == 0, run.stderr
    assert emulator.requests() == []
    signature = reference_signature(json.loads(plan_file.read_bytes()))
    assert (
        f"URL:            {api_env['ACP_API_URL']}/v1/workspace-bindings/wb_123/push-sessions\n"
        in (run.stdout)
    )
    assert f"Plan signature: {signature}\n" in run.stdout
    assert "Authorization:  Bearer tok_****\n" in run.stdout

    as_json = json.loads(
        prepare(BINDING, "--plan", str(plan_file), "--dry-run", "--json", env=api_env).stdout
    )
    assert as_json["headers"]["Authorization"] == "Bearer tok_****"
    assert as_json["planSignature"] == signature
    assert emulator.requests() == []


def test_verbose_shows_the_exchange_on_stderr_with_the_token_masked(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare(BINDING, "--plan", str(plan_file), "-o", "id", "-v", env=api_env)
    assert run.code == 0
    assert (
        f"> POST {api_env['ACP_API_URL']}/v1/workspace-bindings/wb_123/push-sessions" in run.stderr
    )
    assert "> Authorization: Bearer tok_****" in run.stderr
    assert "< HTTP/1.1 201 Created" in run.stderr
    assert run.stdout.count("\n") == 1  # stdout still holds the ID alone


# --- global options before or after the subcommand ----------------------------------------


def write_config(text: str) -> None:
    folder = Path(os.environ["ACP_CONFIG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


@pytest.mark.parametrize("where", ["before", "after"])
def test_profile_selects_the_api_url(emulator: Emulator, plan_file: Path, where: str) -> None:
    write_config(
        f'[profiles.default]\napi_url = "https://unused.invalid"\n'
        f'[profiles.local]\napi_url = "{emulator.url}"\n'
    )
    args = ["push", "prepare", BINDING, "--plan", str(plan_file), "-o", "id"]
    args = ["--profile", "local", *args] if where == "before" else [*args, "--profile", "local"]
    run = run_acp(*args, env={"ACP_TOKEN": TOKEN})
    assert run.code == 0, run.stderr
    assert len(emulator.sessions()) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_api_url_option_wins_over_the_environment(
    emulator: Emulator, plan_file: Path, where: str
) -> None:
    args = ["push", "prepare", BINDING, "--plan", str(plan_file), "-o", "id"]
    flag = ["--api-url", emulator.url]
    args = [*flag, *args] if where == "before" else [*args, *flag]
    run = run_acp(*args, env={"ACP_TOKEN": TOKEN, "ACP_API_URL": "https://unused.invalid"})
    assert run.code == 0, run.stderr


def test_profile_from_the_environment(emulator: Emulator, plan_file: Path) -> None:
    write_config(f'[profiles.ci]\napi_url = "{emulator.url}"\n')
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file),
        env={"ACP_TOKEN": TOKEN, "ACP_PROFILE": "ci"},
    )  # fmt: skip
    assert run.code == 0, run.stderr


# --- device ID --------------------------------------------------------------------------


def test_eight_processes_on_a_fresh_machine_agree_on_one_device_id(
    api_env: dict[str, str], plan_file: Path
) -> None:
    def dry_run(_: int) -> str:
        run = prepare(BINDING, "--plan", str(plan_file), "--dry-run", "--json", env=api_env)
        assert run.code == 0, run.stderr
        return str(json.loads(run.stdout)["headers"]["ACP-Device-Id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(dry_run, range(8)))
    assert len(ids) == 1
    folder = Path(os.environ["ACP_CONFIG_DIR"])
    assert f'device_id = "{ids.pop()}"' in (folder / "config.toml").read_text()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "config.toml").stat().st_mode) == 0o600


def test_device_id_from_the_environment_wins(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare(
        BINDING, "--plan", str(plan_file), "-o", "id",
        env={**api_env, "ACP_DEVICE_ID": "dev-from-env"},
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert emulator.sessions()[0]["deviceId"] == "dev-from-env"
    assert not (Path(os.environ["ACP_CONFIG_DIR"]) / "config.toml").exists()


# --- tokens -----------------------------------------------------------------------------


def test_without_any_token_exit_3_names_acp_token(emulator: Emulator, plan_file: Path) -> None:
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file), env={"ACP_API_URL": emulator.url}
    )
    assert run.code == 3
    assert "ACP_TOKEN" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert emulator.requests() == []


def test_token_from_a_real_keyring_backend(emulator: Emulator, plan_file: Path) -> None:
    backend = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    origin = emulator.url  # http://127.0.0.1:PORT is already an origin
    store = subprocess.run(
        [str(ACP.parent / "python"), "-c",
         "import keyring, sys; keyring.set_password('acp-cli', sys.argv[1], sys.argv[2])",
         origin, TOKEN],
        env={**os.environ, **backend}, check=True, capture_output=True,
    )  # fmt: skip
    assert store.returncode == 0
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file), "-o", "id",
        env={**backend, "ACP_API_URL": emulator.url},
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert TOKEN not in run.output
    assert emulator.requests()[0].header("Authorization") == f"Bearer {TOKEN}"


def test_keyring_for_another_origin_is_not_used(emulator: Emulator, plan_file: Path) -> None:
    backend = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    subprocess.run(
        [str(ACP.parent / "python"), "-c",
         "import keyring; keyring.set_password('acp-cli', 'https://api.example.com', 'x' * 20)"],
        env={**os.environ, **backend}, check=True,
    )  # fmt: skip
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file),
        env={**backend, "ACP_API_URL": emulator.url},
    )  # fmt: skip
    assert run.code == 3
    assert emulator.requests() == []


def test_an_unusable_keyring_is_exit_3_without_traceback(plan_file: Path) -> None:
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file),
        env={"ACP_API_URL": "https://api.example.com"},
    )  # fmt: skip
    assert run.code == 3
    assert "keyring" in run.stderr
    assert "ACP_TOKEN" in run.stderr
    assert "Traceback" not in run.stderr


def test_keyring_is_not_imported_when_acp_token_is_set(plan_file: Path) -> None:
    code = (
        "import sys\n"
        "from acp_cli.cli.boundary import main\n"
        f"sys.argv = ['acp', 'push', 'prepare', 'b', '--plan', {str(plan_file)!r}, '--dry-run']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('keyring' in sys.modules)\n"
    )
    done = subprocess.run(
        [str(ACP.parent / "python"), "-c", code],
        env={**os.environ, "ACP_TOKEN": TOKEN, "ACP_API_URL": "https://api.example.com"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_scripts_prepare_imports_only_what_it_uses(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    """`acp push prepare B --plan P -o id`, as a CI job runs it: start-up is most of its
    time, and none of these has a part in it."""
    first = run_acp("push", "prepare", BINDING, "--plan", str(plan_file), env=api_env)
    assert first.code == 0, first.stderr  # and the device has its ID
    stdout, loaded, said = modules_after_console_script(
        "push", "prepare", BINDING, "--plan", str(plan_file), "-o", "id", env=api_env
    )
    [session] = emulator.sessions()
    assert stdout == f"{session['id']}\n"
    unused = {
        "acp_cli.cli.auth",  # the other groups of commands
        "acp_cli.cli.config",
        "acp_cli.plan_diff",  # what changed since the last prepare: on a terminal only
        "acp_cli.cli.render_diff",
        "acp_cli.workspace.build",  # the plan of a folder: --dir only
        "rich",
        "keyring",  # ACP_TOKEN is set
        "tomlkit",  # nothing is written to config.toml once the device has its ID
    }
    assert unused & loaded == set(), said  # what it said tells why, if it loaded one


# --- bad input: exit 2, a clear message, nothing sent ---------------------------------------


BAD_PLANS = {
    "invalid-json": (b'{"a": 1,\n  "b": }', ["line 2", "column"]),
    "not-an-object": (b"[1, 2]", ["object"]),
    "duplicate-key": (b'{"files": [{"size": 1, "size": 2}]}', ['"size"']),
    "nan": (b'{"a": NaN}', ["NaN"]),
    "infinity": (b'{"a": -Infinity}', ["Infinity"]),
    "out-of-range": (b'{"a": 1e400}', ["range"]),
    "lone-surrogate": (b'{"a": "\\ud800"}', ["surrogate"]),
    "empty": (b"", ["empty"]),
    "whitespace": (b"  \n", ["empty"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_bad_plan_is_refused_before_sending(
    emulator: Emulator, api_env: dict[str, str], tmp_path: Path, case: str
) -> None:
    data, words = BAD_PLANS[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(data)
    run = prepare(BINDING, "--plan", str(path), env=api_env)
    assert run.code == 2, run.stderr
    assert str(path) in run.stderr
    for word in words:
        assert word.lower() in run.stderr.lower()
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


def test_missing_plan_file_is_named(
    emulator: Emulator, api_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    run = prepare(BINDING, "--plan", str(missing), env=api_env)
    assert run.code == 2
    assert str(missing) in run.stderr
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--meta", "novalue"], ["--meta", "KEY=VALUE"]),
        (["--meta", "=x"], ["empty key"]),
        (["--meta", "n:=not json"], ["--meta n"]),
        (["--meta", "n:=NaN"], ["NaN"]),
        (["-o", "yaml"], ["yaml"]),
        (["--json", "-o", "id"], ["--json"]),
    ],
)
def test_bad_options_are_refused_before_sending(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, args: list[str], words: list[str]
) -> None:
    run = prepare(BINDING, "--plan", str(plan_file), *args, env=api_env)
    assert run.code == 2, run.stderr
    for word in words:
        assert word in run.stderr
    assert emulator.requests() == []


def test_metadata_file_that_is_not_an_object(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, tmp_path: Path
) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text('"just a string"')
    run = prepare(BINDING, "--plan", str(plan_file), "--metadata", str(meta), env=api_env)
    assert run.code == 2
    assert str(meta) in run.stderr
    assert emulator.requests() == []


def test_broken_config_file_is_named(emulator: Emulator, plan_file: Path) -> None:
    write_config("[profiles.default\napi_url = ")
    run = run_acp("push", "prepare", BINDING, "--plan", str(plan_file), env={"ACP_TOKEN": TOKEN})
    assert run.code == 2
    assert "config.toml" in run.stderr
    assert "not valid TOML" in run.stderr


def test_no_api_url_says_how_to_set_one(plan_file: Path) -> None:
    run = run_acp("push", "prepare", BINDING, "--plan", str(plan_file), env={"ACP_TOKEN": TOKEN})
    assert run.code == 2
    assert "acp config set api_url" in run.stderr
    assert "ACP_API_URL" in run.stderr


@pytest.mark.parametrize("url", ["http://api.example.com", "http://10.0.0.8:8080"])
def test_plain_http_to_another_host_is_refused(plan_file: Path, url: str) -> None:
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file),
        env={"ACP_TOKEN": TOKEN, "ACP_API_URL": url},
    )  # fmt: skip
    assert run.code == 2
    assert "http://" in run.stderr
    assert "https://" in run.stderr


@pytest.mark.parametrize("binding", ["", " ", "a\nb"])
def test_bad_binding_id(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, binding: str
) -> None:
    run = prepare(binding, "--plan", str(plan_file), env=api_env)
    assert run.code == 2
    assert "binding ID" in run.stderr
    assert emulator.requests() == []


# --- server answers ---------------------------------------------------------------------


def test_wrong_token_is_exit_3_with_the_server_message(emulator: Emulator, plan_file: Path) -> None:
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file),
        env={"ACP_API_URL": emulator.url, "ACP_TOKEN": "wrong-token-0123456789"},
    )  # fmt: skip
    assert run.code == 3
    assert "401" in run.stderr
    assert "request ID: req_" in run.stderr
    assert "wrong-token-0123456789" not in run.output
    assert run.stdout == ""


def test_unknown_binding_is_exit_4(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    run = prepare("wb_unknown", "--plan", str(plan_file), env=api_env)
    assert run.code == 4
    assert "wb_unknown" in run.stderr
    assert "request ID: req_" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 5), (403, 3), (409, 5), (413, 5), (422, 5), (418, 5), (501, 6), (503, 6)],
)
def test_status_codes_map_to_exit_codes(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, status: int, code: int
) -> None:
    for _ in range(4):  # enough for every retry the client may make
        emulator.queue_fault(
            status=status,
            body=json.dumps({"error": {"code": "c", "message": "said so"}}),
            content_type="application/json",
        )
    run = prepare(BINDING, "--plan", str(plan_file), env=api_env)
    assert run.code == code, run.stderr
    assert f"({status}): said so" in run.stderr
    assert "\n  server code: c\n" in run.stderr
    assert run.stdout == ""


def test_html_error_page_is_shown_as_one_short_line(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"
    emulator.queue_fault(status=502, body=page, content_type="text/html", times=4)  # every retry
    run = prepare(BINDING, "--plan", str(plan_file), env=api_env)
    assert run.code == 6
    assert "502 Bad Gateway" in run.stderr
    assert "xxxxxxxxxx" not in run.stderr
    assert "<html>" not in run.stderr
    assert f"request ID: {emulator.requests()[-1].request_id}" in run.stderr


@pytest.mark.parametrize(
    "body", ["not json", "[1, 2]", '{"pushSession": "x"}', '{"created": "yes"}', ""]
)
def test_success_status_with_an_undocumented_body_is_exit_6(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, body: str
) -> None:
    emulator.queue_fault(status=201, body=body, content_type="application/json")
    run = prepare(BINDING, "--plan", str(plan_file), env=api_env)
    assert run.code == 6, run.stderr
    assert "not the documented JSON" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_missing_and_null_fields_are_shown_as_absent(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    body = json.dumps({"pushSession": {"id": "ps_1", "status": None}})
    emulator.queue_fault(status=200, body=body, content_type="application/json")
    emulator.queue_fault(status=201, body='{"pushSession": {}}', content_type="application/json")
    table = prepare(BINDING, "--plan", str(plan_file), env=api_env)
    id_run = prepare(BINDING, "--plan", str(plan_file), "-o", "id", env=api_env)
    assert table.code == 0, table.stderr
    assert table.stdout.startswith("Reused")
    assert "ID:             ps_1\n" in table.stdout
    assert "Status:         -\n" in table.stdout
    assert "Project:        -\n" in table.stdout
    assert id_run.code == 6
    assert "no pushSession.id" in id_run.stderr


def test_redirect_is_not_followed(
    emulator: Emulator,
    make_emulator: Callable[..., Any],
    api_env: dict[str, str],
    plan_file: Path,
) -> None:
    target = make_emulator()
    emulator.queue_fault(status=307, body="", headers={"Location": target.url + "/v1/elsewhere"})
    run = prepare(BINDING, "--plan", str(plan_file), env=api_env)
    assert target.requests() == []
    assert run.code == 6
    assert "redirect" in run.stderr


def test_connection_refused_is_exit_6(make_emulator: Callable[..., Any], plan_file: Path) -> None:
    stopped = make_emulator()
    url = stopped.url
    stopped.stop()  # nothing listens on this port any more
    run = run_acp(
        "push", "prepare", BINDING, "--plan", str(plan_file),
        env={"ACP_API_URL": url, "ACP_TOKEN": TOKEN},
    )  # fmt: skip
    assert run.code == 6
    assert "127.0.0.1" in run.stderr
    assert "Traceback" not in run.stderr


# --- push signature ---------------------------------------------------------------------


def test_push_signature_prints_the_reference_signature(plan_file: Path) -> None:
    run = run_acp("push", "signature", str(plan_file))
    assert run.code == 0, run.stderr
    assert run.stdout == reference_signature(json.loads(plan_file.read_bytes())) + "\n"
    from_stdin = run_acp("push", "signature", "-", stdin=plan_file.read_bytes())
    assert from_stdin.stdout == run.stdout


def test_push_signature_refuses_a_bad_plan(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"a": 1, "a": 2}')
    run = run_acp("push", "signature", str(path))
    assert run.code == 2
    assert '"a"' in run.stderr
    assert run.stdout == ""


# --- help and version -------------------------------------------------------------------


COMMANDS_AND_GROUPS = [
    "",
    "push",
    "push prepare",
    "push signature",
    "auth",
    "auth login",
    "auth logout",
    "auth status",
    "auth token",
    "config",
    "config get",
    "config set",
    "config unset",
    "config list",
    "config path",
    "completion",
]


@pytest.mark.parametrize(
    "command", COMMANDS_AND_GROUPS, ids=lambda command: f"acp {command}".rstrip()
)
def test_every_command_and_group_has_a_summary_and_examples(command: str) -> None:
    run = run_acp(*command.split(), "--help", env={"COLUMNS": "200"})
    assert run.code == 0, run.stderr
    lines = [line.strip() for line in run.stdout.splitlines()]
    usage = next(i for i, line in enumerate(lines) if line.startswith("Usage: "))
    assert lines[usage].startswith(" ".join(["Usage: acp", *command.split(), "[OPTIONS]"]))
    # A one-line summary between blank lines, right under the usage line.
    blank, summary, after = lines[usage + 1 : usage + 4]
    assert (blank, after) == ("", ""), run.stdout
    assert summary.endswith("."), run.stdout
    # An Example(s) section that shows this very command.
    heading = next((i for i, line in enumerate(lines) if line in ("Example:", "Examples:")), None)
    assert heading is not None, run.stdout
    assert any(f"acp {command}".strip() in line for line in lines[heading + 1 :]), run.stdout


def test_unknown_option_is_exit_2(plan_file: Path) -> None:
    run = run_acp("push", "prepare", BINDING, "--plan", str(plan_file), "--token", "x")
    assert run.code == 2
    assert "--token" in run.stderr


def test_plain_http_to_loopback_loads_no_ca_certificates(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, tmp_path: Path
) -> None:
    # Loading CA certificates costs start-up time that plain http never needs:
    # a broken SSL_CERT_FILE shows whether they were loaded.
    env = {**api_env, "SSL_CERT_FILE": str(tmp_path / "missing.pem")}
    run = prepare(BINDING, "--plan", str(plan_file), "-o", "id", env=env)
    assert run.code == 0, run.stderr
    https = prepare(
        BINDING, "--plan", str(plan_file), env={**env, "ACP_API_URL": "https://127.0.0.1:9"}
    )
    assert https.code == 2
    assert "SSL_CERT_FILE" in https.stderr
