"""The release: `make dist`'s sdist and wheel, and the wheel installed as users get it.

The files git lists in the checkout (tests/support/git_oracle.py: the commit, plus work
in progress) are copied out and built as `make dist` builds them: `python -m
build` (an isolated build, the wheel made from the sdist) with SOURCE_DATE_EPOCH
from the last commit, then `twine check --strict`. The wheel is installed, not
editable, into a fresh virtual environment (no system site-packages) and run
there, from a folder outside the checkout, with nothing of the checkout on PATH.

These tests share one xdist worker (`make test` runs --dist loadgroup), so the
wheel is built and installed once a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import jsonschema
import pytest

from acp_cli import __version__
from acp_cli.cli.completion import SCRIPTS
from tests.support.cli_runner import Run
from tests.support.emulator_process import emulator_process
from tests.support.git_oracle import git, git_listing, write_tree
from tests.support.paths import REPO
from tests.support.processes import run_bounded
from tests.support.shells import BASH_COMPLETION, missing, require

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

WHEEL = f"acp_api_cli-{__version__}-py3-none-any.whl"
SDIST = f"acp_api_cli-{__version__}.tar.gz"
DATA = f"acp_api_cli-{__version__}.data/data/"

INSTALLED_COMPLETIONS = {
    "bash": "share/bash-completion/completions/acp",
    "zsh": "share/zsh/site-functions/_acp",
    "fish": "share/fish/vendor_completions.d/acp.fish",
}
"""Where each shell's script lands under the install prefix (its standard folder)."""

DATA_FILES = {
    "share/man/man1/acp.1": "man/acp.1",
    **{
        target: f"src/acp_cli/completions/{SCRIPTS[shell]}"
        for shell, target in INSTALLED_COMPLETIONS.items()
    },
}
"""Every file the wheel puts under the install prefix (sys.prefix, pipx's venv, ~/.local)."""


def source_date_epoch() -> str:
    """The time of the last commit, as `make dist` passes it to the build."""
    return git(REPO, "log", "-1", "--format=%ct").decode().strip()


def copy_source(folder: Path) -> Path:
    """The files git lists in the checkout, copied to ``folder`` (links as links): no
    build/ or egg-info left by an earlier build can slip into the wheel."""
    for relative in sorted(git_listing(REPO)):
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, target, follow_symlinks=False)
    return folder


def build(source: Path, out: Path) -> Path:
    """Build ``source`` into ``out`` as `make dist` does; return ``out``."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": source_date_epoch()}
    done = run_bounded(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)], env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted([SDIST, WHEEL])
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make dist`'s output folder for the checkout, built once for this module."""
    source = copy_source(tmp_path_factory.mktemp("source") / "acp-api-cli")
    return build(source, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(dist / WHEEL) as archive:
        yield archive


def test_twine_check_strict_passes(dist: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_two_builds_of_one_commit_give_the_same_wheel(
    dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Another folder, files written later: the wheel does not change by one byte."""
    source = copy_source(tmp_path_factory.mktemp("elsewhere") / "other-name")
    later = 2_000_000_000
    for path in source.rglob("*"):
        os.utime(path, (later, later))
    again = build(source, tmp_path_factory.mktemp("dist-again"))
    first, second = (dist / WHEEL).read_bytes(), (again / WHEEL).read_bytes()
    assert hashlib.sha256(second).hexdigest() == hashlib.sha256(first).hexdigest()


def test_man_page_and_completions_go_to_the_standard_folders(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for target, source in DATA_FILES.items():
        assert DATA + target in names, f"{target} is missing from the wheel"
        assert wheel.read(DATA + target) == (REPO / source).read_bytes()
    extra = {name for name in names if name.startswith(DATA)} - {DATA + t for t in DATA_FILES}
    assert not extra


def test_entry_points_declare_acp_the_emulator_and_the_pytest_plugin(
    wheel: zipfile.ZipFile,
) -> None:
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode("utf-8")
    assert "[console_scripts]\nacp = acp_cli.__main__:main\n" in text
    assert "acp-emulator = acp_cli.emulator.__main__:main\n" in text
    assert "[pytest11]\nacp = acp_cli.testing\n" in text


def test_only_the_package_is_installed(wheel: zipfile.ZipFile) -> None:
    """Build tools and tests stay in the repository; every module of the package goes."""
    top = {Path(name).parts[0] for name in wheel.namelist()}
    assert top == {"acp_cli", f"acp_api_cli-{__version__}.dist-info", DATA.split("/")[0]}
    package = {
        relative
        for relative in git_listing(REPO)
        if relative.startswith("src/acp_cli/")
        and not relative.endswith((".gitignore", ".gitattributes"))
    }
    assert {f"src/{name}" for name in wheel.namelist() if name.startswith("acp_cli/")} == package


def test_the_licence_is_declared_and_shipped(wheel: zipfile.ZipFile) -> None:
    """The wheel says which licence it is under (PEP 639) and carries its text."""
    info = f"acp_api_cli-{__version__}.dist-info"
    metadata = wheel.read(f"{info}/METADATA").decode("utf-8")
    assert "License-Expression: Apache-2.0\n" in metadata
    assert "License-File: LICENSE\n" in metadata
    assert wheel.read(f"{info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
    assert b"Apache License" in (REPO / "LICENSE").read_bytes()


def test_the_plan_schema_is_shipped_in_the_package(wheel: zipfile.ZipFile) -> None:
    name = "acp_cli/schemas/push-plan-v1.json"
    assert wheel.read(name) == (REPO / "src" / name).read_bytes()


# --- the wheel installed as users get it ---------------------------------------------------


class Installed:
    """A fresh virtual environment with the wheel installed, and a folder away from the
    checkout to run its commands in."""

    def __init__(self, prefix: Path, cwd: Path) -> None:
        self.prefix = prefix
        self.cwd = cwd
        self.bin = prefix / "bin"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The test's environment with only this environment's bin/ in front of the
        system's: nothing of the checkout or its .venv, no MANPATH of the caller's."""
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "MANPATH")
        }
        env["PATH"] = os.pathsep.join([str(self.bin), "/usr/local/bin", "/usr/bin", "/bin"])
        return {**env, **(extra or {})}

    def run(self, *argv: str, env: Mapping[str, str] | None = None) -> Run:
        done = subprocess.run(
            list(argv),
            cwd=self.cwd,
            env=self.env(env),
            capture_output=True,
            timeout=120,
            check=False,
        )
        return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel, pip-installed (not editable) with its dependencies and pytest (for the
    plugin) into a new virtual environment outside the checkout."""
    prefix = tmp_path_factory.mktemp("user") / "venv"
    # Without a pip of its own (ensurepip costs seconds): this pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True, timeout=60)
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", prefix / "bin" / "python"]
    done = run_bounded([*pip, "install", "--quiet", dist / WHEEL, "pytest"], timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return Installed(prefix, tmp_path_factory.mktemp("elsewhere"))


def test_acp_comes_from_the_wheel_not_the_checkout(installed: Installed) -> None:
    run = installed.run(
        "python",
        "-c",
        "import acp_cli, importlib.metadata as m; "
        "print(acp_cli.__file__); print(m.version('acp-api-cli'))",
    )
    assert run.code == 0, run.stderr
    module, version = run.stdout.splitlines()
    assert Path(module).is_relative_to(installed.prefix / "lib")
    assert version == __version__
    assert not Path(module).is_relative_to(REPO)


def test_version(installed: Installed) -> None:
    run = installed.run("acp", "--version")
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"acp {__version__} (Python ")


@pytest.mark.parametrize("shell", list(INSTALLED_COMPLETIONS))
def test_acp_completion_prints_the_installed_file(installed: Installed, shell: str) -> None:
    run = installed.run("acp", "completion", shell)
    assert run.code == 0, run.stderr
    path = installed.prefix / INSTALLED_COMPLETIONS[shell]
    assert run.stdout.encode("utf-8") == path.read_bytes()


def test_acp_completion_powershell_prints_the_packaged_script(installed: Installed) -> None:
    run = installed.run("acp", "completion", "powershell")
    assert run.code == 0, run.stderr
    assert run.stdout.encode("utf-8") == (REPO / "src/acp_cli/completions/acp.ps1").read_bytes()
    assert "Register-ArgumentCompleter -Native -CommandName acp" in run.stdout


@pytest.mark.parametrize("manpath", [True, False], ids=["MANPATH", "from-PATH"])
def test_man_finds_the_page_under_the_install_prefix(installed: Installed, manpath: bool) -> None:
    """Through MANPATH, or (man-db) through the prefix's bin/ on PATH, as README says."""
    share_man = installed.prefix / "share" / "man"
    run = installed.run(
        require("man"), "-w", "acp", env={"MANPATH": str(share_man)} if manpath else {}
    )
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == str(share_man / "man1" / "acp.1")


FILES = {"README.md": "hello\n", "src/app.py": "print('hi')\n", "docs/a b.txt": "x"}


def test_push_plan_of_a_small_folder(installed: Installed) -> None:
    folder = installed.cwd / "work"
    write_tree(folder, FILES)
    run = installed.run("acp", "push", "plan", str(folder))
    assert run.code == 0, run.stderr
    plan = json.loads(run.stdout)
    assert {entry["path"]: entry["sha256"] for entry in plan["files"]} == {
        name: hashlib.sha256(content.encode()).hexdigest() for name, content in FILES.items()
    }
    [schema] = installed.prefix.glob("lib/python*/site-packages/acp_cli/schemas/push-plan-v1.json")
    jsonschema.validate(plan, json.loads(schema.read_text(encoding="utf-8")))


def test_the_installed_emulator_serves_a_push_prepare(installed: Installed, tmp_path: Path) -> None:
    folder = installed.cwd / "work-prepare"
    write_tree(folder, FILES)
    with emulator_process(
        ["--quiet", "--token", "t0k", "--binding", "wb_1"],
        tmp_path,
        command=[str(installed.bin / "acp-emulator")],
    ) as emulator:
        run = installed.run(
            "acp",
            "push",
            "prepare",
            "wb_1",
            "--dir",
            str(folder),
            "-o",
            "json",
            env={"ACP_API_URL": emulator.url, "ACP_TOKEN": "t0k"},
        )
        assert emulator.stop(signal.SIGTERM) == 0
    assert run.code == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["pushSession"]["workspaceBindingId"] == "wb_1"
    assert answer["pushSession"]["status"] == "prepared"


PLUGIN_TEST = """\
import os
import subprocess


def test_acp_runs_against_the_fixture(acp_emulator, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    env = {**os.environ, **acp_emulator.env}
    subprocess.run(["acp", "push", "prepare", acp_emulator.binding, "--dir", str(tmp_path)],
                   env=env, check=True)
    [session] = acp_emulator.sessions()
    assert session["status"] == "prepared"
"""


def test_the_pytest_plugin_is_registered_and_importable(installed: Installed) -> None:
    run = installed.run("python", "-c", "import acp_cli.testing")
    assert (run.code, run.stderr) == (0, "")
    (installed.cwd / "test_user.py").write_text(PLUGIN_TEST, encoding="utf-8")
    run = installed.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py")
    assert run.code == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


# Each way the README enables completion, followed in a real shell with the installed
# acp on PATH and a home of its own; the shell then knows how to complete acp.
COMPLETION_SETUPS = {
    "bash-source": (
        "bash",
        "source <(acp completion bash)\ncomplete -p acp",
        "complete -F _acp acp",
    ),
    "bash-saved": (
        "bash",
        "mkdir -p ~/.local/share/bash-completion/completions\n"
        "acp completion bash > ~/.local/share/bash-completion/completions/acp\n"
        f"source {BASH_COMPLETION}\n"
        "__load_completion acp\ncomplete -p acp",
        "complete -F _acp acp",
    ),
    "zsh-source": (
        "zsh",
        "autoload -Uz compinit && compinit -u -D\nsource <(acp completion zsh)\nprint $_comps[acp]",
        "_acp",
    ),
    "zsh-fpath": (
        "zsh",
        "fpath=(${$(whence -p acp):A:h:h}/share/zsh/site-functions $fpath)\n"
        "autoload -Uz compinit && compinit -u -D\nprint $_comps[acp]",
        "_acp",
    ),
    "fish-saved": (
        "fish",
        "mkdir -p ~/.config/fish/completions\n"
        "acp completion fish > ~/.config/fish/completions/acp.fish\n"
        "complete -C 'acp pu'",
        "push\t",
    ),
}


@pytest.mark.parametrize("setup", list(COMPLETION_SETUPS))
def test_the_readme_lines_enable_completion(installed: Installed, setup: str) -> None:
    shell, script, expected = COMPLETION_SETUPS[setup]
    if setup == "bash-saved" and not BASH_COMPLETION.is_file():
        missing("bash-completion")
    # HOME and XDG_* point into the test's own folder (conftest). No start-up files
    # of the machine's; fish keeps its own start-up, which is what reads
    # ~/.config/fish/completions (a fresh home has no config.fish to run).
    flags = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": []}[shell]
    run = installed.run(require(shell), *flags, "-c", script)
    assert run.code == 0, run.stderr
    assert expected in run.stdout, run.stdout + run.stderr
