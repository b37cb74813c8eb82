"""Running `acp` without the privilege to ignore permissions, even as root.

CI runs the tests as root, and root reads every file whatever its mode: it holds
the capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. `acp` runs here in a
subprocess (only a process can give up a capability) that drops both from its
bounding set before it starts, so that it, and the git it runs, meet file modes as
any user does. A user who is not root has neither capability to drop.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Mapping

from tests.support.cli_runner import ACP, Run, process_env

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_permission_overrides() -> None:
    """In the child, before exec: lose the capabilities that bypass file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_acp_unprivileged(*args: str, env: Mapping[str, str] | None = None) -> Run:
    """Run the `acp` console script, as root without the capabilities that ignore
    file modes, else as the user running the tests."""
    done = subprocess.run(
        [str(ACP), *args],
        capture_output=True,
        env=process_env(env),
        timeout=60,
        check=False,
        preexec_fn=_drop_permission_overrides if os.geteuid() == 0 else None,
    )
    return Run(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
