"""`make demo` works: new then reused, for a plan file and for a workspace folder."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO


def test_the_demo_prepares_new_then_reused_sessions_for_a_file_and_a_folder() -> None:
    done = subprocess.run(
        [sys.executable, "examples/demo.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    headlines = [line for line in done.stdout.splitlines() if "push session for binding" in line]
    assert [line.split()[0] for line in headlines] == ["New", "Reused", "New", "Reused"]
    assert "--dir examples/workspace" in done.stdout
