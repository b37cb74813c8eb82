"""The wheel: what `pipx install .` or `pip install .` puts on a machine.

One wheel is built for the module, the way pip builds one for an install (an
isolated build with the build-system requirements from pyproject.toml), and
inspected without installing it.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from acp_cli import __version__
from tests.cli_runner import REPO

pytestmark = pytest.mark.slow

DATA = f"acp_cli-{__version__}.data/data/"

# Where each generated file lands under the install prefix (sys.prefix, pipx's venv, ~/.local).
DATA_FILES = {
    "share/man/man1/acp.1": "man/acp.1",
    "share/bash-completion/completions/acp.bash": "completions/acp.bash",
    "share/zsh/site-functions/_acp": "completions/_acp",
    "share/fish/vendor_completions.d/acp.fish": "completions/acp.fish",
}

NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "*cache*", ".hypothesis", "out")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """The wheel of the working tree, built once for this module."""
    # From a copy: setuptools builds in the source tree, and a build/ folder left
    # there by an earlier build could slip stale files into this wheel.
    source = tmp_path_factory.mktemp("source") / "acp-cli"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = out.glob("acp_cli-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_man_page_and_completions_go_to_the_standard_folders(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for target, source in DATA_FILES.items():
        assert DATA + target in names, f"{target} is missing from the wheel"
        assert wheel.read(DATA + target) == (REPO / source).read_bytes()
    extra = {name for name in names if name.startswith(DATA)} - {DATA + t for t in DATA_FILES}
    assert not extra


def test_entry_points_declare_acp_and_the_emulator(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode("utf-8"))
    assert dict(parser["console_scripts"]) == {
        "acp": "acp_cli.__main__:main",
        "acp-emulator": "acp_cli.emulator.__main__:main",
    }


def test_only_the_package_is_installed(wheel: zipfile.ZipFile) -> None:
    """Build tools and tests stay in the repository."""
    top = {Path(name).parts[0] for name in wheel.namelist()}
    assert top == {"acp_cli", f"acp_cli-{__version__}.dist-info", f"acp_cli-{__version__}.data"}
    assert "acp_cli/py.typed" in wheel.namelist()


def test_the_plan_schema_is_shipped_in_the_package(wheel: zipfile.ZipFile) -> None:
    name = "acp_cli/schemas/push-plan-v1.json"
    assert wheel.read(name) == (REPO / "src" / name).read_bytes()
