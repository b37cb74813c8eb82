"""How the tests are laid out: test modules share helpers only through tests/support."""

from __future__ import annotations

import ast

from tests.support.paths import REPO

TESTS = REPO / "tests"


def imported_modules(source: str, package: str) -> set[str]:
    """What ``source``, a module of ``package``, imports, absolute and relative imports
    alike, as dotted names: each module, and each name taken from one."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def imported_test_modules(source: str, package: str) -> list[str]:
    """The test modules (``tests....test_*``) that ``source`` imports."""
    return sorted(
        name
        for name in imported_modules(source, package)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    )


def test_no_test_module_imports_another() -> None:
    imports = {
        str(path.relative_to(REPO)): imported_test_modules(
            path.read_text(encoding="utf-8"), ".".join(path.relative_to(REPO).parent.parts)
        )
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {path: names for path, names in imports.items() if names} == {}


def test_the_check_sees_absolute_and_relative_imports() -> None:
    source = (
        "from tests.cli.test_terminal import run_on_terminal\n"
        "from .test_build import sha\n"
        "from . import test_files\n"
        "import tests.test_retry\n"
        "from tests.support.shells import shell\n"
        "from tests.support import polling\n"
    )

    assert imported_test_modules(source, "tests.workspace") == [
        "tests.cli.test_terminal",
        "tests.test_retry",
        "tests.workspace.test_build",
        "tests.workspace.test_files",
    ]
