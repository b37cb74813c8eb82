"""Benchmark: the plan signature against sha256sum and the rfc8785 reference.

Generates a plan of 200,000 files (about 45 MB: paths, sizes, sha256 hashes,
modes, float mtimes, nested attributes) from a fixed seed in a temporary
folder, then times, as separate processes and by wall clock:

- ``sha256sum`` of the file: the yardstick;
- our signature through the API (``python -c`` calling ``sign_plan_bytes``);
- ``acp push signature`` (the same, plus the CLI's start-up);
- the pure-Python ``rfc8785`` reference (fewer runs: it is slow).

Runs are interleaved so that a busy machine slows all commands alike. The table
gives medians, the ratio to sha256sum, and each process's peak resident memory
(``wait4``'s ``ru_maxrss``) next to the file size. The goals (issue 6): within 3x
of sha256sum, peak memory within 6x the file, at least 5x faster than the reference.

    .venv/bin/python benchmarks/bench_signature.py [--quick] [--runs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SEED = 8785
FILES = 200_000
QUICK_FILES = 20_000

API_CODE = (
    "import sys\n"
    "from acp_cli.signature import sign_plan_bytes\n"
    "path = sys.argv[1]\n"
    "with open(path, 'rb') as f:\n"
    "    print(sign_plan_bytes(f.read(), path))\n"
)
REFERENCE_CODE = (
    "import hashlib, json, sys\n"
    "import rfc8785\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    plan = json.loads(f.read())\n"
    "print('sha256:' + hashlib.sha256(rfc8785.dumps(plan)).hexdigest())\n"
)


def generate_plan(path: Path, files: int, seed: int = SEED) -> None:
    """Write a deterministic plan of ``files`` entries, one per line, as tools often do."""
    rnd = random.Random(seed)
    extensions = ["py", "md", "json", "txt", "png", "rs", "ts", "lock", "yaml", "c"]
    folders = ["src", "docs", "tests", "assets", "my-lib", "vendor/third-party", "café"]
    with path.open("w", encoding="utf-8") as out:
        head = {
            "version": 1,
            "workspace": {"root": "/home/dev/project", "generator": {"name": "acp", "v": "0.1"}},
        }
        out.write(json.dumps(head, indent=2)[:-2] + ',\n  "files": [\n')
        for index in range(files):
            mtime = rnd.uniform(1.6e9, 1.75e9)
            if index % 20 == 0:
                mtime = float(int(mtime))  # whole seconds: written "1712345678.0"
            name = f"file-{index:06d}"
            if index % 1000 == 7:
                name += "-\U0001f680"  # the odd emoji in a file name
            entry = {
                "path": f"{rnd.choice(folders)}/m{rnd.randrange(1000):03d}/{name}"
                f".{rnd.choice(extensions)}",
                "size": rnd.randrange(0, 10**8),
                "sha256": rnd.randbytes(32).hex(),
                "mode": rnd.choice([0o644, 0o755, 0o600]),
                "mtime": mtime,
                "attrs": {"exec": rnd.random() < 0.1, "link": None},
            }
            separator = ",\n" if index < files - 1 else "\n"
            out.write("    " + json.dumps(entry, ensure_ascii=False) + separator)
        out.write("  ]\n}\n")


@dataclass
class Command:
    """One command to time, with its measurements."""

    name: str
    argv: list[str]
    runs: int
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)
    output: str = ""

    def run_once(self) -> None:
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            start = time.perf_counter()
            process = subprocess.Popen(self.argv, stdout=stdout, stderr=stderr)
            # wait4 gives this child's own peak memory; RUSAGE_CHILDREN would give
            # the largest of all children so far.
            _pid, status, usage = os.wait4(process.pid, 0)
            self.seconds.append(time.perf_counter() - start)
            process.returncode = os.waitstatus_to_exitcode(status)
            stdout.seek(0)
            stderr.seek(0)
            if process.returncode != 0:
                message = stderr.read().decode(errors="replace")
                raise SystemExit(f"{self.name} failed ({process.returncode}): {message}")
            self.peak_kib.append(usage.ru_maxrss)  # KiB on Linux
            self.cpu_seconds.append(usage.ru_utime + usage.ru_stime)
            words = stdout.read().split()
            self.output = words[0].decode() if words else ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mib(self) -> float:
        return max(self.peak_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FILES:,} files, fewer runs")
    parser.add_argument("--runs", type=int, help="runs per fast command (default 7, quick 3)")
    parser.add_argument("--keep", type=Path, help="write the plan into this folder and keep it")
    args = parser.parse_args()

    # As installed (pip compiles bytecode at install time), not recompiled on every
    # run as an editable checkout is under PYTHONDONTWRITEBYTECODE=1.
    compileall.compile_dir(Path(__file__).resolve().parents[1] / "src" / "acp_cli", quiet=1)
    files = QUICK_FILES if args.quick else FILES
    runs = args.runs or (3 if args.quick else 7)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="acp-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "plan.json"
    try:
        started = time.perf_counter()
        generate_plan(plan, files)
        size = plan.stat().st_size
        print(
            f"plan: {files:,} files, {size / 1e6:.1f} MB, generated in "
            f"{time.perf_counter() - started:.1f} s ({plan})",
            file=sys.stderr,
        )
        report(plan, size, runs)
        if args.quick:
            print("\n--quick: start-up dominates a small plan; the goals are for the full one.")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def report(plan: Path, size: int, runs: int) -> None:
    """Time every command and print the table."""
    python = sys.executable
    acp = Path(python).with_name("acp")
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        raise SystemExit("sha256sum not found")
    yardstick = Command("sha256sum", [sha256sum, str(plan)], runs)
    ours = Command("acp_cli.signature API", [python, "-c", API_CODE, str(plan)], runs)
    commands = [yardstick, ours]
    if acp.exists():
        commands.append(
            Command("acp push signature", [str(acp), "push", "signature", str(plan)], runs)
        )
    reference = Command("rfc8785 reference", [python, "-c", REFERENCE_CODE, str(plan)], 2)
    commands.append(reference)

    for command in commands:  # warm the page cache and the imports once
        if command is not reference:
            command.run_once()
            command.seconds.clear()
            command.cpu_seconds.clear()
            command.peak_kib.clear()
    for round_ in range(runs):
        for command in commands:
            if round_ < command.runs:
                command.run_once()
                print(f"  {command.name}: {command.seconds[-1]:.3f} s", file=sys.stderr)

    signatures = {command.output for command in commands if command is not yardstick}
    if len(signatures) != 1:
        raise SystemExit(f"the signatures differ: {signatures}")

    mb = size / 2**20
    own_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nplan: {size / 1e6:.1f} MB; signature {signatures.pop()}\n")
    print(
        f"{'command':22} {'runs':>4} {'median s':>9} {'min s':>7} {'x sha256sum':>11} "
        f"{'cpu s':>6} {'peak MiB':>9} {'x file':>7}"
    )
    for command in commands:
        print(
            f"{command.name:22} {len(command.seconds):>4} {command.median:>9.3f} "
            f"{min(command.seconds):>7.3f} {command.median / yardstick.median:>10.2f}x "
            f"{statistics.median(command.cpu_seconds):>6.3f} "
            f"{command.peak_mib:>9.1f} {command.peak_mib / mb:>6.2f}x"
        )
    print(
        f"\n(median and min are wall clock; cpu is the median user+sys time. A peak near "
        f"{own_mib:.0f} MiB is this script's own, which a child holds until it starts.)\n"
    )
    for command in commands[1:-1]:
        speed_up = reference.median / command.median
        checks = [
            ("within 3x sha256sum", command.median <= 3 * yardstick.median),
            ("peak within 6x file", command.peak_mib <= 6 * mb),
            (f"{speed_up:.1f}x faster than rfc8785 (goal 5x)", speed_up >= 5),
        ]
        verdict = ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks)
        print(f"{command.name}: {verdict}")


if __name__ == "__main__":
    main()
