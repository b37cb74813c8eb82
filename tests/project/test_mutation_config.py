"""`make mutation MODULE=...` (tools/mutation.py): each module listed under
``[tool.acp.mutation-tests]`` in pyproject.toml names a source file and test files that
exist, so a module or test moved elsewhere cannot leave mutmut running no tests."""

from __future__ import annotations

import tomllib

import pytest
from tools.mutation import module_file, mutmut_also_copies

from tests.support.paths import REPO

LISTED: dict[str, list[str]] = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"][
    "acp"
]["mutation-tests"]


@pytest.mark.parametrize("module", sorted(LISTED))
def test_each_listed_module_and_its_test_files_exist(module: str) -> None:
    assert (REPO / module_file(module)).is_file()
    assert LISTED[module], f"no test files listed for {module}"
    missing = [path for path in LISTED[module] if not (REPO / path).is_file()]
    assert missing == []


def test_the_files_copied_next_to_the_tests_exist() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    copied = mutmut_also_copies(pyproject)
    assert "README.md" in copied  # tests/workspace/test_cache.py reads it
    assert [name for name in copied if not (REPO / name).exists()] == []
