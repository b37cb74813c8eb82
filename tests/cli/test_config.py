"""`acp config get|set|unset|list|path` through the real entry point."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from pathlib import Path

import pytest

from tests.support.cli_runner import Run, run_acp

COMMENTED = """\
# acp settings, kept by hand
device_id = "0b6c5c8e-1111-4222-8333-444455556666"

[profiles.default]
# production
api_url = "https://api.example.com"  # the public API
timeout = 30

[profiles.staging]
api_url = "https://staging.example.com"
"""


def acp(*args: str, env: dict[str, str] | None = None) -> Run:
    run = run_acp(*args, env=env, timeout=30)
    assert "Traceback" not in run.stderr
    return run


@pytest.fixture
def config_path(isolated_env: Path) -> Path:
    return isolated_env / "config.toml"


@pytest.fixture
def commented(config_path: Path) -> Path:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text(COMMENTED, encoding="utf-8")
    return config_path


def test_path_prints_the_config_file_and_creates_nothing(config_path: Path) -> None:
    run = acp("config", "path")
    assert run.code == 0
    assert run.stdout == f"{config_path}\n"
    assert not config_path.parent.exists()


def test_set_writes_a_private_file_atomically(config_path: Path) -> None:
    run = acp("config", "set", "api_url", "https://api.example.com/")

    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert f"Set api_url = https://api.example.com for profile default in {config_path}" in (
        run.stderr
    )
    assert config_path.read_text() == '[profiles.default]\napi_url = "https://api.example.com"\n'
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_path.parent.stat().st_mode) == 0o700
    assert not [name for name in os.listdir(config_path.parent) if name.endswith(".tmp")]
    assert acp("config", "get", "api_url").stdout == "https://api.example.com\n"


def test_set_keeps_comments_layout_and_other_profiles(commented: Path) -> None:
    assert acp("config", "set", "timeout", "60").code == 0
    assert acp("config", "set", "ca_bundle", str(commented), "--profile", "staging").code == 0
    assert acp("config", "set", "api_url", "http://localhost:8080", "--profile", "dev").code == 0

    assert (
        commented.read_text()
        == COMMENTED.replace("timeout = 30", "timeout = 60").replace(
            'api_url = "https://staging.example.com"\n',
            f'api_url = "https://staging.example.com"\nca_bundle = "{commented}"\n',
        )
        + '\n[profiles.dev]\napi_url = "http://localhost:8080"\n'
    )


def test_unset_removes_only_that_key(commented: Path) -> None:
    run = acp("config", "unset", "timeout")
    assert run.code == 0
    assert f"Removed timeout from profile default in {commented}." in run.stderr
    assert commented.read_text() == COMMENTED.replace("timeout = 30\n", "")

    again = acp("config", "unset", "timeout")
    assert again.code == 0
    assert "timeout was not set for profile default" in again.stderr
    assert commented.read_text() == COMMENTED.replace("timeout = 30\n", "")


def test_unset_of_a_missing_file_creates_nothing(config_path: Path) -> None:
    run = acp("config", "unset", "api_url")
    assert run.code == 0
    assert not config_path.exists()


def test_profile_from_option_or_environment_before_or_after(commented: Path) -> None:
    assert acp("config", "get", "api_url", "--profile", "staging").stdout == (
        "https://staging.example.com\n"
    )
    assert acp("--profile", "staging", "config", "get", "api_url").stdout == (
        "https://staging.example.com\n"
    )
    assert acp("config", "get", "api_url", env={"ACP_PROFILE": "staging"}).stdout == (
        "https://staging.example.com\n"
    )
    assert acp("config", "set", "timeout", "5", env={"ACP_PROFILE": "staging"}).code == 0
    assert acp("config", "get", "timeout", "--profile", "staging").stdout == "5\n"
    assert acp("config", "get", "timeout").stdout == "30\n"


def test_values_are_stored_with_their_types(config_path: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert acp("config", "set", "timeout", "2.5").code == 0
    assert acp("config", "set", "timeout", "10", "--profile", "b").code == 0
    os.chdir(tmp_path)  # a relative path is stored absolute: it must work from anywhere
    assert acp("config", "set", "ca_bundle", "ca.pem").code == 0
    text = config_path.read_text()
    assert "timeout = 2.5\n" in text
    assert "timeout = 10\n" in text
    assert f'ca_bundle = "{bundle}"\n' in text


def test_set_values_are_what_other_commands_use(config_path: Path) -> None:
    assert acp("config", "set", "api_url", "https://api.example.com/base/").code == 0
    run = acp("auth", "status", "--json", env={"ACP_TOKEN": "tok_0123456789abcdef"})
    assert run.code == 0
    report = json.loads(run.stdout)
    assert report["api_url"] == "https://api.example.com/base"
    assert report["origin"] == "https://api.example.com"


@pytest.mark.parametrize("command", [["get"], ["set"], ["unset"]])
def test_unknown_key_is_exit_2_naming_the_known_keys(config_path: Path, command: list[str]) -> None:
    args = ["config", *command, "api-url"] + (["https://x.example"] if command == ["set"] else [])
    run = acp(*args)
    assert run.code == 2
    assert "Unknown config key 'api-url'" in run.stderr
    for key in ("api_url", "ca_bundle", "timeout"):
        assert key in run.stderr
    assert not config_path.exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("api_url", "ftp://api.example.com", "is not an http(s) URL"),
        ("api_url", "api.example.com", "is not an http(s) URL"),
        ("api_url", "http://api.example.com", "is refused: plain http:// to api.example.com"),
        ("api_url", "https://user:pw@api.example.com", "must not carry"),
        ("timeout", "0", "positive number of seconds"),
        ("timeout", "-3", "positive number of seconds"),
        ("timeout", "soon", "positive number of seconds"),
        ("timeout", "nan", "positive number of seconds"),
        ("timeout", "inf", "positive number of seconds"),
        ("ca_bundle", "/does/not/exist.pem", "existing file"),
        ("ca_bundle", "/", "existing file"),
    ],
)
def test_bad_values_are_exit_2_and_change_nothing(
    commented: Path, key: str, value: str, message: str
) -> None:
    run = acp("config", "set", key, "--", value)  # "--": "-3" is a value, not an option
    assert run.code == 2
    assert message in run.stderr
    assert commented.read_text() == COMMENTED


def test_list_marks_where_each_value_comes_from(commented: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    run = acp("config", "list")
    assert run.code == 0
    assert run.stdout.splitlines()[0] == "Profile default:"
    assert listed(run.stdout) == {
        **listed(run.stdout),
        "api_url": ("https://api.example.com", "(file)"),
        "ca_bundle": ("-", "(unset)"),
        "timeout": ("30", "(file)"),
    }

    staging = acp("config", "list", "--profile", "staging", env={"ACP_CA_BUNDLE": str(bundle)})
    assert staging.stdout.splitlines()[0] == "Profile staging:"
    assert listed(staging.stdout) == {
        **listed(staging.stdout),
        "api_url": ("https://staging.example.com", "(file)"),
        "ca_bundle": (str(bundle), "(environment ACP_CA_BUNDLE)"),
        "timeout": ("30", "(default)"),
    }

    flagged = acp("config", "list", "--api-url", "https://flag.example.com")
    assert listed(flagged.stdout)["api_url"] == ("https://flag.example.com", "(flag --api-url)")


def listed(text: str) -> dict[str, tuple[str, str]]:
    """``key: value   (source)`` lines of `acp config list` as {key: (value, source)}."""
    rows = {}
    for line in text.splitlines()[1:]:
        key, rest = line.split(":", 1)
        value, source = rest.strip().split("  (", 1)
        rows[key] = (value.strip(), "(" + source)
    return rows


def test_list_json_and_unknown_keys_in_the_file(commented: Path) -> None:
    commented.write_text(COMMENTED + "api-url = 'typo'\n")
    run = acp("config", "list", "--json", "--profile", "staging", env={"ACP_API_URL": "https://e"})
    assert run.code == 0
    listing = json.loads(run.stdout)
    assert listing["profile"] == "staging"
    values = listing["values"]
    assert values["api_url"] == {
        "value": "https://e",
        "source": "environment",
        "from": "ACP_API_URL",
    }
    assert values["ca_bundle"] == {"value": None, "source": "unset", "from": None}
    assert values["timeout"] == {"value": 30.0, "source": "default", "from": None}
    assert values["api-url"] == {"value": "typo", "source": "unknown", "from": None}
    assert list(values)[-1] == "api-url"  # unknown keys come last
    text = acp("config", "list", "--profile", "staging")
    assert listed(text.stdout)["api-url"] == ("typo", "(file, unknown key: ignored)")


def test_get_shows_the_value_in_force_and_says_when_it_is_not_the_file(commented: Path) -> None:
    run = acp("config", "get", "api_url", env={"ACP_API_URL": "https://env.example.com"})
    assert run.stdout == "https://env.example.com\n"
    assert "comes from ACP_API_URL" in run.stderr

    unset = acp("config", "get", "ca_bundle")
    assert unset.code == 1  # as `git config` says a key is not set
    assert unset.stdout == ""
    assert "ca_bundle is not set for profile default" in unset.stderr


def test_set_warns_when_the_environment_overrides_the_file(config_path: Path) -> None:
    run = acp("config", "set", "api_url", "https://a.example.com", env={"ACP_API_URL": "https://b"})
    assert run.code == 0
    assert "Warning: ACP_API_URL is set in the environment and takes precedence." in run.stderr


@pytest.mark.parametrize("args", [["list"], ["get", "timeout"], ["set", "timeout", "3"]])
def test_a_broken_config_file_is_exit_2(config_path: Path, args: list[str]) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text("[profiles.default\napi_url = 'x'\n")
    run = acp("config", *args)
    assert run.code == 2
    assert str(config_path) in run.stderr
    assert config_path.read_text() == "[profiles.default\napi_url = 'x'\n"


def test_a_profile_that_is_not_a_table_is_exit_2(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text('profiles = "oops"\n')
    run = acp("config", "set", "timeout", "3")
    assert run.code == 2
    assert "must be a table" in run.stderr
    assert config_path.read_text() == 'profiles = "oops"\n'


@pytest.mark.parametrize("command", ["get", "set", "unset", "list", "profiles", "path"])
def test_every_config_command_has_a_summary_and_examples(command: str) -> None:
    run = acp("config", command, "--help", env={"COLUMNS": "100"})
    assert run.code == 0
    assert "Examples:" in run.stdout
    assert "--profile" in run.stdout


# --- invalid values: listed with the reason, exit 2, the validator resolution uses --------

INVALID_VALUES = [
    # (key, TOML value, the value as listed, the reason)
    ("timeout", '"30"', '"30"', "must be a positive number of seconds, not a string"),
    ("timeout", "true", "true", "must be a positive number of seconds, not a boolean"),
    ("timeout", "0", "0", "must be a positive number of seconds"),
    ("timeout", "-1.5", "-1.5", "must be a positive number of seconds"),
    ("deadline", "inf", "inf", "must be a positive number of seconds"),
    ("connect_timeout", "nan", "nan", "must be a positive number of seconds"),
    ("deadline", "[1, 2]", "an array", "must be a positive number of seconds, not an array"),
    ("timeout", "{ s = 1 }", "a table", "must be a positive number of seconds, not a table"),
    ("timeout", "1979-05-27", "a date or time", "not a date or time"),
    ("api_url", "443", "443", "must be a string, not a number"),
    ("api_url", '"ftp://api.example.com"', '"ftp://api.example.com"', "is not an http(s) URL"),
    ("api_url", '"http://api.example.com"', '"http://api.example.com"', "plain http://"),
    ("api_url", '"https://u:p@api.example.com"', '"https://u:p@api.example.com"', "must not carry"),
    ("ca_bundle", "5", "5", "must be the path of a file, not a number"),
    ("ca_bundle", '""', '""', "must be the path of a file, not a string"),
    ("ca_bundle", '"/does/not/exist.pem"', '"/does/not/exist.pem"', "is not an existing file"),
]


@pytest.mark.parametrize(("key", "toml", "listed_as", "reason"), INVALID_VALUES)
def test_list_flags_an_invalid_value_with_the_reason_and_exits_2(
    config_path: Path, key: str, toml: str, listed_as: str, reason: str
) -> None:
    config_path.parent.mkdir(mode=0o700)
    api_url = "" if key == "api_url" else 'api_url = "https://api.example.com"\n'
    config_path.write_text(f"[profiles.default]\n{api_url}{key} = {toml}\n")

    run = acp("config", "list")
    assert run.code == 2
    rows = listed(run.stdout)
    value, source = rows[key]
    assert value == listed_as
    assert source.startswith("(file; invalid: ")
    assert reason in source
    valid = {name: row for name, row in rows.items() if name != key}
    assert all("invalid" not in row[1] for row in valid.values())  # the others still list
    assert f"has 1 invalid value in force (listed above): {key}." in run.stderr

    as_json = acp("config", "list", "--json")
    assert as_json.code == 2
    entry = json.loads(as_json.stdout)["values"][key]  # valid JSON, even for inf and nan
    assert entry["source"] == "file"
    assert reason in entry["invalid"]

    # The same validator refuses the file where the value is used.
    plan = config_path.parent.parent / "plan.json"
    plan.write_text('{"files": [{"path": "a.txt"}]}')
    used = acp("push", "prepare", "wb_1", "--plan", str(plan), env={"ACP_TOKEN": "t"})
    assert used.code == 2
    assert f"(from {key} in {config_path} [profiles.default])" in used.stderr
    assert reason in used.stderr
    got = acp("config", "get", key)
    assert got.code == 2
    assert got.stdout == ""


def test_list_reports_every_invalid_value_at_once(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text(
        '[profiles.default]\napi_url = "https://api.example.com"\ntimeout = "30"\n'
        "deadline = -1\nca_bundle = 5\n"
    )
    run = acp("config", "list")
    assert run.code == 2
    assert "has 3 invalid values in force (listed above): ca_bundle, deadline, timeout." in (
        run.stderr
    )
    assert listed(run.stdout)["api_url"] == ("https://api.example.com", "(file)")
    assert listed(run.stdout)["connect_timeout"] == ("10", "(default)")


def test_an_invalid_value_that_is_not_in_force_is_not_an_error(config_path: Path) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text('[profiles.default]\napi_url = 443\n\n[profiles.other]\ntimeout = "x"\n')
    run = acp("config", "list", env={"ACP_API_URL": "https://env.example.com"})
    assert run.code == 0, run.stderr
    assert listed(run.stdout)["api_url"] == (
        "https://env.example.com",
        "(environment ACP_API_URL)",
    )


@pytest.mark.parametrize(
    ("env", "key", "reason"),
    [
        ({"ACP_API_URL": "ftp://x.example.com"}, "api_url", "is not an http(s) URL"),
        ({"ACP_CA_BUNDLE": "/does/not/exist.pem"}, "ca_bundle", "is not an existing file"),
    ],
)
def test_list_flags_an_invalid_environment_value(
    commented: Path, env: dict[str, str], key: str, reason: str
) -> None:
    run = acp("config", "list", env=env)
    assert run.code == 2
    value, source = listed(run.stdout)[key]
    assert value == json.dumps(env[next(iter(env))])
    assert source == f"(environment {next(iter(env))}; invalid: {reason}" + source.split(reason)[1]


# `acp config profiles` as shell completion runs it, answered before the command tree
# loads (acp_cli.cli.quick), and with a global option, through the tree: the same answer.
PROFILES = pytest.mark.parametrize(
    "profiles",
    [("config", "profiles"), ("config", "profiles", "--no-color")],
    ids=["quick", "tree"],
)


@PROFILES
def test_profiles_prints_each_name_as_acp_reads_it(
    config_path: Path, profiles: tuple[str, ...]
) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text(
        'profiles.dotted.api_url = "https://d.example.com"\n'
        "[profiles.default]\n"
        '[profiles."a b"]\n'
        "[profiles.'x\"y']\n"
        '[profiles."caf\\u00e9"]\n'
        '[profiles."line\\nbreak"]\n'
        '[profiles."tab\\there"]\n'
        "[other]\nname = 1\n"
    )
    run = acp(*profiles)
    assert run.code == 0, run.stderr
    # file order; a name with a control character cannot be one line, so it is left out
    assert run.stdout == 'dotted\ndefault\na b\nx"y\ncafé\n'


@PROFILES
def test_profiles_without_a_config_prints_nothing(
    config_path: Path, profiles: tuple[str, ...]
) -> None:
    run = acp(*profiles)
    assert (run.code, run.stdout) == (0, "")
    assert not config_path.exists()


@PROFILES
def test_profiles_of_a_broken_config_is_exit_2(
    config_path: Path, profiles: tuple[str, ...]
) -> None:
    config_path.parent.mkdir(mode=0o700)
    config_path.write_text("[profiles.a\n")
    run = acp(*profiles)
    assert run.code == 2
    assert str(config_path) in run.stderr


READERS = [
    ["config", "list"],
    ["config", "get", "api_url"],
    ["config", "unset", "timeout"],
    ["auth", "status"],
    ["auth", "token"],
    ["auth", "logout"],
    ["push", "prepare", "wb_123", "--dir", "."],
]


@pytest.mark.parametrize("args", READERS, ids=" ".join)
@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_mistyped_profile_is_exit_2_naming_the_closest_known_one(
    commented: Path, args: list[str], given: str
) -> None:
    before = commented.read_bytes()
    if given == "flag":
        run = acp("--profile", "stagin", *args, env={"ACP_TOKEN": "tok_x"})
        origin = "--profile"
    else:
        run = acp(*args, env={"ACP_PROFILE": "stagin", "ACP_TOKEN": "tok_x"})
        origin = "ACP_PROFILE"
    assert run.code == 2
    assert run.stdout == ""
    assert f"Error: Profile 'stagin' (from {origin}) is not in {commented}." in run.stderr
    assert "Did you mean 'staging'? Known profiles: default, staging." in run.stderr
    assert commented.read_bytes() == before


def test_without_a_config_file_only_the_default_profile_is_known(config_path: Path) -> None:
    run = acp("config", "list", "--profile", "prod")
    assert run.code == 2
    assert "Known profiles: default." in run.stderr
    assert "Did you mean" not in run.stderr
    assert not config_path.exists()
    assert acp("config", "list").code == 0


def test_the_hint_to_create_a_profile_creates_it(config_path: Path) -> None:
    refused = acp("config", "get", "api_url", "--profile", "prod")
    assert refused.code == 2
    assert "`acp --profile prod config set api_url https://api.example.com`" in refused.stderr
    assert acp("--profile", "prod", "config", "set", "api_url", "https://api.example.com").code == 0
    got = acp("config", "get", "api_url", "--profile", "prod")
    assert (got.code, got.stdout) == (0, "https://api.example.com\n")


def test_the_hint_for_a_missing_api_url_names_the_profile_given(config_path: Path) -> None:
    assert acp("config", "set", "timeout", "5", "--profile", "ci").code == 0
    refused = acp("--profile", "ci", "auth", "token")
    assert refused.code == 2
    [hint] = re.findall(r"`(acp [^`]*)`", refused.stderr)
    assert hint == "acp --profile ci config set api_url https://api.example.com"
    assert acp(*shlex.split(hint)[1:]).code == 0
    assert acp("--profile", "ci", "auth", "token").code == 3  # the URL is set: no token yet
    untouched = acp("config", "get", "api_url")  # the default profile
    assert (untouched.code, untouched.stdout) == (1, "")


@pytest.mark.parametrize("key", ["api_url", "ca_bundle"])
def test_get_of_a_key_nothing_sets_is_exit_1_and_prints_nothing(commented: Path, key: str) -> None:
    commented.write_text("[profiles.default]\ntimeout = 5\n")
    run = acp("config", "get", key)
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == f"{key} is not set for profile default.\n"
    assert (
        acp(
            "config", "get", key, env={"ACP_CA_BUNDLE": str(commented), "ACP_API_URL": "https://e"}
        ).code
        == 0
    )
    assert acp("config", "get", "timeout").code == 0  # set in the file
    assert acp("config", "get", "deadline").code == 0  # its default is in force


def test_json_on_a_pipe_is_compact(commented: Path) -> None:
    listed = acp("config", "list", "--json")
    assert listed.stdout.count("\n") == 1
    assert listed.stdout.startswith('{"profile":"default","values":{')
