"""What a release needs before `make dist` (RELEASING.md): one version, and a
CHANGELOG.md in the Keep a Changelog form with an entry for it."""

from __future__ import annotations

import datetime
import re
import tomllib

from acp_cli import __version__
from tests.support.paths import REPO

HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\S+))?$", re.M)
KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
"""The kinds of change Keep a Changelog names, the only ### headings it has."""


def changelog() -> str:
    return (REPO / "CHANGELOG.md").read_text(encoding="utf-8")


def releases() -> list[tuple[str, str | None]]:
    """Each ``## [NAME] - DATE`` heading, in order: (name, date or None)."""
    return [(match["name"], match["date"]) for match in HEADING.finditer(changelog())]


def semver(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def test_the_version_being_built_has_an_entry() -> None:
    dates = dict(releases())
    assert __version__ in dates, f"CHANGELOG.md has no '## [{__version__}] - YYYY-MM-DD'"
    datetime.date.fromisoformat(str(dates[__version__]))


def test_unreleased_first_then_each_version_newest_first_with_its_date() -> None:
    (first, undated), *versions = releases()
    assert (first, undated) == ("Unreleased", None)
    assert versions, "no version entries"
    numbers = [semver(name) for name, _ in versions]
    assert numbers == sorted(numbers, reverse=True)
    assert len(set(numbers)) == len(numbers)
    dates = [datetime.date.fromisoformat(str(date)) for _, date in versions]
    assert dates == sorted(dates, reverse=True)


def test_sections_are_the_kinds_of_change_keep_a_changelog_names() -> None:
    text = changelog()
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    kinds = set(re.findall(r"^### (.+)$", text, re.M))
    assert kinds <= KINDS, kinds - KINDS
    headings = re.findall(r"^#+ .*$", text, re.M)
    assert all(re.match(r"^(# Changelog|## \[.+|### .+)$", line) for line in headings), headings


def test_the_version_has_one_source() -> None:
    """pyproject.toml reads it from acp_cli.__version__; nothing else states it."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "acp_cli.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
