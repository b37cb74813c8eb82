"""Text that came from the server, made safe to show on a terminal.

A server's messages, IDs and headers could carry control characters and
escape sequences that would move the cursor, clear the screen or forge output.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 and C1 control characters, DEL included."""


def one_line(text: str, *, limit: int | None = None) -> str:
    """``text`` on one line: control characters become spaces, runs of spaces one.

    Longer than ``limit`` characters, it is cut and ends with an ellipsis.
    """
    text = " ".join(CONTROL.sub(" ", text).split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character."""
    return CONTROL.search(text) is not None
