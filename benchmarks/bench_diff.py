"""Benchmark: ``acp push diff`` of two plans of 100,000 entries against diff(1) and cmp(1).

Writes two canonical plans (as ``acp push plan`` writes them) from a fixed seed: the
new one has 1% of the entries modified, 500 deleted and 500 added. Then times, as
separate processes and by wall clock, interleaved so that a busy machine slows all
alike:

- ``cmp`` of the two plan files: reading both, the floor;
- ``diff`` of the two plans written one entry a line (as ``sort`` would leave them):
  the textual baseline, which knows nothing of paths or fields;
- the API in one process: ``diff_plans`` after the strict reading, which is what the
  goal counts (issue 19: <= 0.5 s);
- ``acp push diff OLD NEW --name-status`` (the same, plus the CLI's start-up).

The table gives medians of wall and CPU time (user + system: steadier when other
work shares the machine), the ratios to ``diff``, and each process's peak resident
memory (``wait4``'s ``ru_maxrss``) next to the size of the two plans: memory is bounded
by the plans' size, a few times over, whatever the number of changes.

    .venv/bin/python benchmarks/bench_diff.py [--runs N] [--files N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

SEED = 19
FILES = 100_000
ACP = Path(sys.executable).parent / "acp"
API_CODE = (
    "import sys, time\n"
    "from acp_cli import strict_json\n"
    "from acp_cli.plan_diff import diff_entries, plan_entries\n"
    "start, cpu = time.perf_counter(), time.process_time()\n"
    "read = lambda p: plan_entries(strict_json.parse_object(strict_json.read_file(p), p), p)\n"
    "old, new = (read(p) for p in sys.argv[1:])\n"
    "diff = diff_entries(old, new)\n"
    "print(time.perf_counter() - start, time.process_time() - cpu, len(diff.changes))\n"
)


def entries(files: int, rnd: random.Random) -> list[dict[str, object]]:
    """``files`` plan entries with paths like a source tree's."""
    folders = [f"src/module_{n}/sub_{n % 7}" for n in range(files // 50 + 1)]
    out = []
    for n in range(files):
        size = rnd.randrange(0, 200_000)
        out.append(
            {
                "mode": "100755" if n % 40 == 0 else "100644",
                "path": f"{folders[n // 50]}/file_{n}.py",
                "sha256": rnd.randbytes(32).hex(),
                "size": size,
            }
        )
    return out


def write_plans(folder: Path, files: int) -> None:
    """The two plans, canonical (old.json, new.json), and each as one entry a line
    (old.lines, new.lines)."""
    rnd = random.Random(SEED)
    old = entries(files, rnd)
    new = [dict(item) for item in old]
    for item in rnd.sample(new, files // 100):
        item["sha256"] = rnd.randbytes(32).hex()
        item["size"] = int(str(item["size"])) + 1
    for item in rnd.sample(new, 500):
        new.remove(item)
    new += [dict(item, path=f"added/{n}.bin") for n, item in enumerate(rnd.sample(old, 500))]
    for name, plan in (("old", old), ("new", new)):
        plan.sort(key=lambda item: str(item["path"]).encode())
        canonical = folder / f"{name}.json"
        canonical.write_bytes(orjson.dumps({"files": plan, "version": 1}) + b"\n")
        lines = folder / f"{name}.lines"
        lines.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in plan))


def timed(args: list[str]) -> tuple[float, float, int, bytes]:
    """Wall time, CPU time, peak resident KiB and stdout of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, _status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=FILES)
    parser.add_argument("--write", metavar="DIR", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.write:
        write_plans(Path(options.write), options.files)
        return
    with tempfile.TemporaryDirectory(prefix="acp-bench-diff-") as scratch:
        # Written by a child: a forked child's peak memory counts its parent's pages
        # until it executes, so this process stays small.
        args = [sys.executable, __file__, "--write", scratch, "--files", str(options.files)]
        subprocess.run(args, check=True)
        old, new, old_lines, new_lines = (
            Path(scratch, name) for name in ("old.json", "new.json", "old.lines", "new.lines")
        )
        commands = {
            "cmp": ["cmp", "-s", str(old), str(new)],
            "diff (one entry a line)": ["diff", str(old_lines), str(new_lines)],
            "diff_plans (API, in-process time)": [
                sys.executable,
                "-c",
                API_CODE,
                str(old),
                str(new),
            ],
            "acp push diff --name-status": [
                str(ACP),
                "push",
                "diff",
                str(old),
                str(new),
                "--name-status",
            ],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[int]] = {name: [] for name in commands}
        inside: list[float] = []
        inside_cpu: list[float] = []
        for _ in range(options.runs):
            for name, args in commands.items():
                wall, cpu, peak, out = timed(args)
                walls[name].append(wall)
                cpus[name].append(cpu)
                peaks[name].append(peak)
                if name.startswith("diff_plans"):
                    inside.append(float(out.split()[0]))
                    inside_cpu.append(float(out.split()[1]))
        size_mib = (old.stat().st_size + new.stat().st_size) / 2**20
        load = os.getloadavg()[0]
        print(
            f"two plans of {options.files:,} entries, {size_mib:.1f} MiB together; "
            f"median of {options.runs} runs; load average {load:.1f} on {os.cpu_count()} CPUs"
        )
        base = statistics.median(walls["diff (one entry a line)"])
        base_cpu = statistics.median(cpus["diff (one entry a line)"])
        print(
            f"{'command':<38} {'wall s':>7} {'x diff':>7} {'CPU s':>7} {'x diff':>7} "
            f"{'peak MiB':>9}"
        )
        for name in commands:
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            peak = max(peaks[name]) / 1024
            print(
                f"{name:<38} {wall:>7.3f} {wall / base:>7.2f} {cpu:>7.3f} {cpu / base_cpu:>7.2f} "
                f"{peak:>9.1f}"
            )
        print(
            "diff_plans itself (read, check, compare): median "
            f"{statistics.median(inside):.3f} s wall, {statistics.median(inside_cpu):.3f} s CPU "
            "(goal <= 0.5 s; on a busy machine the CPU time is the steadier figure)"
        )


if __name__ == "__main__":
    main()
