"""The command lines answered before the command tree loads (`acp_cli.cli.quick`: ``acp
--version``, ``acp config profiles``) print what the tree prints for them, byte for byte
and with the same exit code, whatever the environment and the config file hold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from acp_cli.cli import quick, root
from tests.support.cli_runner import Run, run_acp
from tests.support.ordinary_user import ROOT_OWNED, as_ordinary_user

PROFILES = '[profiles.default]\napi_url = "https://api.example.com"\n[profiles.staging]\n'


def answered_both_ways(args: tuple[str, ...], env: dict[str, str]) -> tuple[Run, Run]:
    """``acp ARGS`` answered quickly (the tree must not be asked), then by the tree."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(root, "app_for", _no_tree)
        quickly = run_acp(*args, env=env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quick, "ANSWERS", {})
        by_the_tree = run_acp(*args, env=env)
    return quickly, by_the_tree


def _no_tree(argv: list[str]) -> None:
    raise AssertionError(f"the tree was built for {argv}")


@pytest.mark.parametrize("args", list(quick.ANSWERS))
@pytest.mark.parametrize(
    ("env", "config", "profiles_code"),
    [
        ({}, PROFILES, 0),
        ({}, None, 0),  # no config file
        ({"ACP_PROFILE": "stagin"}, PROFILES, 0),  # a mistyped profile
        ({"ACP_PROFILE": ""}, PROFILES, 0),
        ({"ACP_CONFIG_DIR": ""}, PROFILES, 0),  # empty: not set
        ({"ACP_CONFIG_DIR": str(ROOT_OWNED)}, PROFILES, 2),  # a file, not a folder
        ({"ACP_API_URL": "not a url", "ACP_TIMEOUT": "-1"}, PROFILES, 0),
        ({"NO_COLOR": "1", "TERM": "dumb"}, PROFILES, 0),
        ({}, "[profiles.default\n", 2),  # not TOML
        ({}, "profiles = 3\n", 0),
        ({}, '[profiles."line\\nbreak"]\n[profiles."caf\\u00e9"]\n', 0),
    ],
    ids=[
        "profiles",
        "no-file",
        "mistyped-ACP_PROFILE",
        "empty-ACP_PROFILE",
        "empty-ACP_CONFIG_DIR",
        "ACP_CONFIG_DIR-a-file",
        "invalid-settings",
        "NO_COLOR",
        "broken-file",
        "profiles-not-a-table",
        "unusual-names",
    ],
)
def test_a_quick_answer_is_the_tree_s_answer(
    args: tuple[str, ...],
    env: dict[str, str],
    config: str | None,
    profiles_code: int,
    isolated_env: Path,
) -> None:
    if config is not None:
        isolated_env.mkdir(mode=0o700)
        (isolated_env / "config.toml").write_text(config, encoding="utf-8")
    quickly, by_the_tree = answered_both_ways(args, env)
    assert quickly == by_the_tree
    assert quickly.code == (profiles_code if args == ("config", "profiles") else 0)


@pytest.mark.parametrize("args", list(quick.ANSWERS))
@pytest.mark.parametrize(
    ("make", "profiles_code"),
    [
        (lambda path: (path.unlink(), path.mkdir()), 2),  # a folder: cannot be read
        (lambda path: path.chmod(0o000), 2),  # unreadable
        (lambda path: path.parent.chmod(0o777), 0),  # others may write in its folder
    ],
    ids=["a-folder", "unreadable", "folder-of-others"],
)
def test_a_quick_answer_is_the_tree_s_answer_for_a_file_it_cannot_use(
    args: tuple[str, ...],
    make: Callable[[Path], object],
    profiles_code: int,
    ordinary_folder: Path,
) -> None:
    # As an ordinary user: root reads every file.
    def attempt() -> tuple[Run, Run]:
        folder = ordinary_folder / "acp"
        folder.mkdir(mode=0o700)
        (folder / "config.toml").write_text(PROFILES, encoding="utf-8")
        make(folder / "config.toml")
        try:
            return answered_both_ways(args, {"ACP_CONFIG_DIR": str(folder)})
        finally:
            folder.chmod(0o700)

    quickly, by_the_tree = as_ordinary_user(attempt)
    assert quickly == by_the_tree
    assert quickly.code == (profiles_code if args == ("config", "profiles") else 0)
