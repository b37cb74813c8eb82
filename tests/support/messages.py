"""Reading an error the way a user does: its message and its hint, whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from acp_cli.errors import AcpError


def refusal(action: Callable[[], Any], kind: type[AcpError] = AcpError) -> tuple[str, str | None]:
    """The message and hint of the error of class ``kind`` that ``action()`` raises."""
    with pytest.raises(kind) as caught:
        action()
    return caught.value.message, caught.value.hint
