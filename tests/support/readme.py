"""The README and its Python examples (`PYTHON_BLOCKS`), which tests run as written."""

from __future__ import annotations

import re

from tests.support.paths import REPO

README = REPO / "README.md"
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
"""The code of each ```python block of the README, in order."""
