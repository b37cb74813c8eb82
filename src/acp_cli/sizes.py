"""Sizes for people: the one way acp writes a number of bytes in messages, warnings
and progress."""

from __future__ import annotations


def binary_size(size: int) -> str:
    """``size`` bytes for people: ``512 bytes``, ``3.1 KiB``, ``1.2 GiB``."""
    if size < 1024:
        return f"{size:,} byte{'' if size == 1 else 's'}"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:,.1f} {unit}"
