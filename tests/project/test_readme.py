"""The README's Python examples run as they are written: a script runs and prints,
a pytest file (the "Testing your scripts" example) passes under pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.readme import PYTHON_BLOCKS


def test_the_readme_has_a_script_and_a_pytest_example() -> None:
    kinds = {"def test_" in code for code in PYTHON_BLOCKS}
    assert kinds == {True, False}


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=lambda code: code.splitlines()[0][:40])
def test_a_python_example_runs(code: str, tmp_path: Path) -> None:
    # The examples run `acp`, as a user's shell finds it.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if "def test_" in code:
        (tmp_path / "test_example.py").write_text(code, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "no:xdist", "test_example.py"]
    else:
        command = [sys.executable, "-c", code]
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip()
