"""Make a race happen on purpose: another process's change lands while acp waits
for the config folder's lock, between its first look and its edit."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acp_cli.settings import file as config_file
from tests.support.polling import wait_until

LOCKS = Path("/proc/locks")
needs_proc_locks = pytest.mark.skipif(
    not LOCKS.exists(), reason="seeing who waits for a lock needs Linux's /proc/locks"
)


def waiting_for(lock: Path) -> bool:
    """Whether some thread waits for the flock on ``lock`` (Linux: /proc/locks)."""
    inode = f":{os.stat(lock).st_ino} "
    with LOCKS.open() as locks:
        return any("->" in line and inode in line for line in locks)


def change_while_waiting(
    folder: Path, action: Callable[[], Any], meanwhile: Callable[[], None]
) -> Any:
    """``action()`` on a thread while this one holds ``folder``'s lock; once the thread
    waits for it, ``meanwhile()`` (another process's edit), then the lock is released.
    Returns what ``action`` returned; raises what it raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    with config_file.locked(folder):
        worker = threading.Thread(target=run)
        worker.start()
        wait_until(lambda: waiting_for(folder / config_file.LOCK_NAME) or not worker.is_alive())
        assert worker.is_alive(), outcome
        meanwhile()
    worker.join(10)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
