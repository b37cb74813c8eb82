"""Mutation testing of one module with mutmut (what `make mutation MODULE=...` runs).

    python -m tools.mutation MODULE        e.g. settings, credentials, workspace/cache

mutmut reads its settings from the pyproject.toml of the folder it runs in, and
keeps its results in the folder `mutants/` there. So that each module is tested
with its own fast test files (mutmut has no per-module test selection) and keeps
its own results between runs, each module gets a folder `.mutation/MODULE/`
holding links to src/, tests/ and the files listed in ``also_copy`` (which
the tests read), and a pyproject.toml whose [tool.mutmut] is the
shared one plus this module's file and the test files listed for it under
[tool.acp.mutation-tests] in the repository's pyproject.toml.

mutmut then runs, niced, with `--max-children 2`, and this prints the summary:
mutants made, killed (a timeout counts as killed), survived, not run. Mutants
marked `# pragma: no mutate` in the source (the equivalent ones, listed with the
reason in CONTRIBUTING.md) are never made, so they are not counted. Rerunning
retests only the functions changed since the last run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import tomlkit

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".mutation"
MUTMUT = str(Path(sys.executable).parent / "mutmut")
"""mutmut of this virtual environment (the `mutation` extra)."""


def module_file(module: str) -> str:
    """The source file of MODULE ("settings", "workspace/cache") relative to REPO."""
    return f"src/acp_cli/{module.removesuffix('.py')}.py"


def mutmut_also_copies(pyproject: Any) -> list[str]:
    """The repository's files that mutmut copies next to the tests (``also_copy``):
    those the tests read through ``tests.support.paths.REPO``, such as README.md."""
    return [str(path) for path in pyproject["tool"]["mutmut"].get("also_copy", [])]


def prepare(module: str) -> Path:
    """Write `.mutation/MODULE/` for mutmut to run in; return the folder."""
    pyproject = tomlkit.parse((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    tests_by_module = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "acp"
    ]["mutation-tests"]
    name = module.removesuffix(".py")
    if name not in tests_by_module:
        known = ", ".join(sorted(tests_by_module))
        raise SystemExit(
            f"no test files listed for {name!r} under [tool.acp.mutation-tests] "
            f"in pyproject.toml; modules listed: {known}"
        )
    folder = WORK / name.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    for link in ("src", "tests", *mutmut_also_copies(pyproject)):
        target = folder / link
        if not target.is_symlink():
            target.symlink_to(REPO / link)
    mutmut = pyproject["tool"]["mutmut"]
    mutmut["only_mutate"] = [module_file(name)]
    mutmut["pytest_add_cli_args_test_selection"] = tests_by_module[name]
    (folder / "pyproject.toml").write_text(tomlkit.dumps(pyproject), encoding="utf-8")
    return folder


def summary(folder: Path, module: str) -> str:
    """One line: the counts mutmut recorded for MODULE in FOLDER."""
    subprocess.run(
        [MUTMUT, "export-cicd-stats"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    stats = json.loads((folder / "mutants" / "mutmut-cicd-stats.json").read_text())
    killed = stats["killed"] + stats["timeout"]
    ended = ("survived", "no_tests", "skipped", "suspicious", "segfault")
    not_run = stats["total"] - killed - sum(stats[key] for key in ended)
    # Every mutant that was run counts; one that no listed test reaches ("without
    # tests") survives as surely as one the tests run and miss.
    tested = stats["total"] - stats["skipped"] - not_run
    percent = 100.0 * killed / tested if tested else 0.0
    return (
        f"{module}: {stats['total']} mutants, {killed} killed ({percent:.1f}%), "
        f"{stats['survived']} survived, {stats['no_tests']} without tests, "
        f"{stats['suspicious'] + stats['segfault']} suspicious, {not_run} not run"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    module = argv[0].removesuffix(".py")
    if not (REPO / module_file(module)).is_file():
        print(f"no such module: {module_file(module)}", file=sys.stderr)
        return 2
    folder = prepare(module)
    run = subprocess.run(
        ["nice", "-n", "19", MUTMUT, "run", "--max-children", os.environ.get("JOBS", "2")],
        cwd=folder,
        check=False,
    )
    print(summary(folder, module))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
