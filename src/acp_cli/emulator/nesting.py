"""Deeply nested JSON: the limits the emulator shares with the client, and room to recurse.

The client accepts plans and metadata nested up to `MAX_PLAN_DEPTH` levels
(``{}`` is one level) and a ``--meta key:=JSON`` value that deep under its key,
so the emulator must handle every such document, and refuses deeper ones as
the client would. The request body holds them one level deeper, an answer
(``{"pushSession": {"plan": ...}}``) two levels deeper.

The emulator's JSON work is recursive: the standard ``json`` module (its C
scanner and encoder count their nesting against the interpreter's recursion
limit) and ``rfc8785`` (one Python call per level). Python's default limit of
1,000 frames made a plan nested about 980 levels deep fail with
``RecursionError``. `deep_recursion` raises the limit while such work runs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_PLAN_DEPTH = 1024
"""The documented limit, the client's ``acp_cli.strict_json.MAX_DEPTH``: a plan nested deeper
is refused before it is sent. Written out rather than imported: the emulator
shares no code with the client it checks (a test keeps the two equal)."""

MAX_METADATA_DEPTH = MAX_PLAN_DEPTH + 1
"""Metadata may hold a ``--meta`` value nested `MAX_PLAN_DEPTH` deep under its key."""

# Levels the emulator's recursive JSON code may go through: the deepest
# metadata inside a session inside ``{"sessions": [...]}``, plus a margin for
# the frames below it. rfc8785 and the json module use one frame per level.
_RECURSION_ALLOWANCE = MAX_METADATA_DEPTH + 3 + 200

_limit_lock = threading.Lock()
_holders = 0
_saved_limit = 0


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Run the body with room to recurse through every document the emulator reads or writes.

    The recursion limit is the interpreter's, shared by every thread, so it is
    raised by the first thread that enters and restored by the last one that
    leaves. A thread's C stack is not a concern: at this depth the json
    module's C recursion fits in a 512 KiB thread stack (measured).
    """
    global _holders, _saved_limit
    with _limit_lock:
        if _holders == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(_saved_limit + _RECURSION_ALLOWANCE)
        _holders += 1
    try:
        yield
    finally:
        with _limit_lock:
            _holders -= 1
            if _holders == 0:
                sys.setrecursionlimit(_saved_limit)


def nesting_depth(value: Any) -> int:
    """How deep parsed JSON ``value`` nests: 0 for a scalar, 1 for ``{}`` or ``[]``, 2 for ``[[]]``.

    Iterative (one level of containers at a time), so any depth works without
    `deep_recursion`. Exact ``type`` checks suffice for what ``json`` parsed and
    keep the walk to a small fraction of the signature check's time.
    """
    depth = 0
    level = [value] if type(value) is dict or type(value) is list else []
    while level:
        depth += 1
        deeper: list[Any] = []
        for container in level:
            children = container.values() if type(container) is dict else container
            deeper.extend(c for c in children if type(c) is dict or type(c) is list)
        level = deeper
    return depth
