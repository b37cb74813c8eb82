"""Child processes that a timeout ends whole."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_bounded(
    argv: Sequence[str | Path], *, timeout: float, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True, **options)`` in a session of
    its own, every process of which is killed when ``timeout`` seconds pass (then the
    test fails, saying so). ``subprocess.run``'s own timeout kills only the child and
    then waits for the end of its output, which a grandchild holds open for as long as
    it runs: the pip that an isolated `python -m build` starts, waiting on a stalled
    network, would hold the test (and CI) long after the timeout."""
    with subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **options,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise AssertionError(
                f"{' '.join(map(str, argv))} did not finish in {timeout} s:\n{out}{err}"
            ) from None
        except BaseException:  # pytest's own timeout, Ctrl-C
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(list(argv), process.returncode, out, err)
