"""The last plan prepared from this machine, per API origin and binding, so that acp
can say what changed since (SPEC section 9).

One file per origin and binding in ``<cache folder>/sent/`` (0700): a header line
naming both, then the plan's bytes as they were sent. The files are private (0600)
and written with the one writer (`acp_cli.files.write_atomic`). Like the hash cache,
a remembered plan only ever adds a line of information: a missing, foreign, corrupt
or unsafe file (another owner, writable by others) is ignored, and a failure to
write one never fails the ``prepare`` that succeeded on the server.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from acp_cli.files import forget_oldest, only_ours, write_atomic
from acp_cli.settings import cache_dir

FORMAT = 1
KEEP = 100
"""At most this many remembered plans: the oldest written are removed beyond it, so the
folder stays bounded however many bindings a machine has prepared for."""


@dataclass(frozen=True)
class SentPlans:
    """The remembered plans in ``folder``."""

    folder: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SentPlans:
        """The remembered plans in the cache folder (``ACP_CACHE_DIR`` or the platform's)."""
        return cls(cache_dir(env).expanduser() / "sent")

    def path(self, origin: str, binding: str) -> Path:
        """The file that remembers the last plan prepared for ``binding`` at ``origin``."""
        key = hashlib.sha256(f"{origin}\0{binding}".encode()).hexdigest()[:32]
        return self.folder / f"{key}.json"

    def remember(self, origin: str, binding: str, plan: bytes) -> None:
        """Remember ``plan`` (its bytes as sent) as the last one prepared for ``binding``
        at ``origin``; a failure to write is ignored."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Not flushed to disk (an fsync costs a prepare about 4 ms): a crash may leave
            # it empty or cut short, never half old and half new; the next prepare then
            # compares nothing, and `push diff --last` does not trust it (cli/push_diff.py).
            data = _header(origin, binding) + plan
            write_atomic(self.path(origin, binding), data, mode=0o600, durable=False)
            forget_oldest(self.folder, keep_files=KEEP)
        except (OSError, orjson.JSONEncodeError):  # a binding ID that is not Unicode
            pass

    def recall(self, origin: str, binding: str) -> bytes | None:
        """The last plan prepared for ``binding`` at ``origin``, as sent; None when
        there is none that can be trusted."""
        path = self.path(origin, binding)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or not only_ours(info):
                return None
            try:
                header = handle.readline()
                plan = handle.read()
            except OSError:
                return None
        try:
            return plan if header == _header(origin, binding) else None
        except orjson.JSONEncodeError:
            return None


def _header(origin: str, binding: str) -> bytes:
    return orjson.dumps({"binding": binding, "format": FORMAT, "origin": origin}) + b"\n"
