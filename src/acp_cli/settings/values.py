"""The types of settings' values: how text (a flag, a variable, ``acp config set``)
and a value read from config.toml become the value in force, and the words of a
refusal."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class InvalidValue(ValueError):
    """A value a setting cannot take.

    ``reason`` completes a sentence whose subject is the value, e.g. "must be a
    positive number of seconds, not a string".
    """

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class ValueType:
    """How one kind of setting is read: from text (flag, environment, ``acp config set``)
    and from a parsed TOML value (the config file)."""

    example = "VALUE"
    """A value to show in hints: ``acp config set KEY EXAMPLE``."""

    def parse(self, text: str) -> Any:
        """The value in force for ``text``; InvalidValue when it cannot be one."""
        return self.check(text)

    def check(self, value: Any) -> Any:
        """The value in force for a value read from the config file (any TOML type)."""
        if not isinstance(value, str):
            raise InvalidValue(f"must be a string, not {described(value)}")
        return value

    def stored(self, text: str) -> Any:
        """What ``acp config set`` writes in the file for ``text``."""
        return self.parse(text)


class Seconds(ValueType):
    """A positive, finite number of seconds."""

    example = "60"
    reason = "must be a positive number of seconds"

    def parse(self, text: str) -> float:
        return float(self.stored(text))

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{self.reason}, not {described(value)}")
        if not (math.isfinite(value) and value > 0):
            raise InvalidValue(self.reason)
        return float(value)

    def stored(self, text: str) -> int | float:
        value = positive_seconds(text)
        if value is None:
            raise InvalidValue(self.reason)
        return value


class ExistingFile(ValueType):
    """The path of an existing file; ``~`` is expanded."""

    def __init__(self, example: str, hint: str) -> None:
        # Run at import only, where mutmut's mutants never apply (CONTRIBUTING.md);
        # tests/settings/test_messages.py asserts the example and the hint whole.
        self.example = example  # pragma: no mutate
        self.hint = hint  # pragma: no mutate
        """What to give instead, said with every refusal."""

    def check(self, value: Any) -> Path:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(f"must be the path of a file, not {described(value)}", self.hint)
        path = Path(value).expanduser()
        if not path.is_file():
            raise InvalidValue("is not an existing file", self.hint)
        return path

    def stored(self, text: str) -> str:
        # Absolute, so the file means the same from any working directory.
        return str(self.check(text.strip()).resolve())


class Folder(ValueType):
    """A folder path; ``~`` is expanded. It need not exist yet."""

    example = "~/.config/acp"

    def check(self, value: Any) -> Path:
        return Path(super().check(value)).expanduser()


class HeaderValue(ValueType):
    """Text sent as an HTTP header value as it is: printable ASCII without spaces."""

    def check(self, value: Any) -> str:
        text = str(super().check(value))
        if not (text and text.isascii() and text.isprintable() and " " not in text):
            raise InvalidValue("must be printable ASCII without spaces")
        return text


class Count(ValueType):
    """A whole number, 0 or more (a count of files or of bytes)."""

    example = "100000"

    def parse(self, text: str) -> int:
        stripped = text.strip()
        if not (stripped.isascii() and stripped.isdigit()):  # not "²", which int() refuses
            raise InvalidValue("must be a whole number, 0 or more")
        return int(stripped)

    def check(self, value: Any) -> int:
        if type(value) is not int or value < 0:
            shown = str(value) if type(value) in (int, float) else described(value)
            raise InvalidValue(f"must be a whole number, 0 or more, not {shown}")
        return value


class Text(ValueType):
    """Any non-empty text; its meaning is checked where it is used."""

    def check(self, value: Any) -> str:
        text = str(super().check(value))
        if not text:
            raise InvalidValue("must not be empty")
        return text


def described(value: Any) -> str:
    """The TOML type of ``value`` as a reason names it: ``a string``, ``a boolean``."""
    from datetime import date, time  # not at start-up: only an invalid value needs it

    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (str, "a string"),
        (bool, "a boolean"),
        ((int, float), "a number"),
        (Mapping, "a table"),
        ((list, tuple), "an array"),
        ((date, time), "a date or time"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def as_toml(value: Any) -> str:
    """A value as TOML would write it, for messages: ``"30"``, ``true``, ``30``, ``inf``."""
    if isinstance(value, str | os.PathLike):
        import json  # not at start-up: only messages about a value need it

        return json.dumps(os.fspath(value), ensure_ascii=False)  # pragma: no mutate: None is False
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}"
    return described(value)


def positive_seconds(text: str) -> int | float | None:
    """``text`` as a positive, finite number of seconds (an int when written as one), or None."""
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        return None
    if not (math.isfinite(value) and value > 0):
        return None
    return int(stripped) if stripped.isdigit() else value
