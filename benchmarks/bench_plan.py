"""Benchmark: plans from a workspace folder, through the command, against git and openssl
(issues 12 and 20).

Generates once (kept in benchmarks/out/, which git ignores) a git repository of
about 100,000 small files (median about 3 KB) under nested .gitignore files with
ignored build outputs and node_modules, plus two 200 MiB files, and two folders of
one and of two 1 GiB files; ``--small`` makes one of about 10,000 files, two 20 MiB
files, and folders of 100 MiB files. Then times, as separate processes, by wall
clock, rounds interleaved, medians of ``--rounds``. ``acp`` is the installed
console script, run as a user runs it (``acp push plan TREE -q``): start-up,
imports and writing the plan included.

- re-plan, cache warm   vs  git status --porcelain                    (goal <= 2.0x)
- one 200 MiB file, --no-cache  vs  openssl dgst -sha256              (goal <= 1.2x)
- full plan, --no-cache vs  git ls-files -co --exclude-standard -z | xargs -0 -P2 -n256
                            openssl dgst -sha256                      (goal <= 1.0x)
- ``acp push prepare B --dir TREE -o id``, cache warm, against the emulator (in this
  process)  vs  ``acp push plan TREE -q`` piped into a bare httpx client that signs
  and posts the plan                                                  (goal <= 1.2x)
- peak memory of the full plan: the largest resident set of the command's process
  and of its hashing workers and git, as a small launcher process sees its child
  (see MEASURE_PEAK)                                                  (goal <= 100 MiB)
- re-plan, 100 changed  vs  the unchanged re-plan                     (goal <= 1.15x)
- two 1 GiB files       vs  one 1 GiB file: on two cores, in parallel (goal <= 1.3x);
                        and vs openssl dgst -sha256 on each, side by side, the same
                        comparison when other work takes the cores  (goal <= 1.2x)
- full plan with the progress bar drawn on a pseudo-terminal, redrawn on its
  timer (workers report their bytes as they read), vs the same bar without its
  timer (redrawn as chunks are done, as before issue 15)             (goal <= 1.02x);
  and vs no bar at all (rich's import and the frames: no goal, for the record)

The bar rows run ``python -c RUN_PLAN DIR`` (a few lines calling ``build_plan``),
which draws the bar on a given descriptor and reports the time spent inside
``build_plan``, shown in brackets. The load average is printed with the table:
on a shared machine the ratios move with it.

``--scale`` (``make bench-scale``) generates a tree of 1,000,000 small files once
(about 4 GB and a quarter of an hour) and times only its warm re-plan against
git status, with the peak memory of its plans (goals <= 2.0x, <= 1 GiB).

``--tree-only`` times only the rows of the many-file tree (the warm and changed
re-plans, the full plan and its memory, prepare, the bar), writing no big or huge file.

    .venv/bin/python benchmarks/bench_plan.py [--small | --scale] [--one-file | --tree-only]
        [--rounds N]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import fcntl
import json
import math
import os
import pty
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench_startup import BINDING, POST_PLAN, TOKEN

from acp_cli.emulator import Emulator

HERE = Path(__file__).resolve().parent
ACP = str(Path(sys.executable).parent / "acp")
OUT = HERE / "out"
SEED = 12
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,  # read, never written
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


@dataclass(frozen=True)
class Shape:
    """The generated workspace: ``files`` small ones plus two big ones; and folders
    of one and of two huge files."""

    name: str
    files: int
    big_mib: int
    huge_mib: int

    @property
    def folder(self) -> Path:
        return OUT / f"plan-workspace-{self.name}"

    @property
    def one_file_folder(self) -> Path:
        return OUT / f"plan-one-file-{self.name}"

    def huge_folder(self, count: int) -> Path:
        return OUT / f"plan-{count}-huge-{self.name}"


FULL = Shape("full", 100_000, 200, 1024)
SMALL = Shape("small", 10_000, 20, 100)
SCALE = Shape("scale", 1_000_000, 1, 0)


def generate(shape: Shape) -> None:
    """Write the workspace once; a folder with the marker file is reused as it is."""
    marker = shape.folder / ".generated"
    if marker.exists():
        return
    if shape.folder.exists():
        shutil.rmtree(shape.folder)
    started = time.perf_counter()
    rnd = random.Random(SEED)
    root = shape.folder
    root.mkdir(parents=True)
    (root / ".gitignore").write_text("node_modules/\n*.log\n/dist/\n", encoding="utf-8")
    top_folders = 20
    per_top = shape.files // top_folders
    extensions = ["py", "md", "json", "ts", "c", "h", "txt", "yaml"]
    for top in range(top_folders):
        base = root / f"pkg{top:02d}"
        base.mkdir()
        (base / ".gitignore").write_text("build/\n*.o\n!keep.o\n", encoding="utf-8")
        for index in range(per_top):
            folder = base / f"m{index % 25:02d}" / f"s{index % 7}"
            folder.mkdir(parents=True, exist_ok=True)
            size = min(int(rnd.lognormvariate(math.log(3000), 0.6)), 1 << 20)
            name = f"f{index:05d}.{rnd.choice(extensions)}"
            (folder / name).write_bytes(rnd.randbytes(size))
            if index % 10 == 0:  # ignored build outputs beside the sources
                (folder / f"f{index:05d}.o").write_bytes(rnd.randbytes(size))
        build = base / "build"
        build.mkdir()
        for index in range(per_top // 10):
            (build / f"out{index}.bin").write_bytes(rnd.randbytes(2000))
    modules = root / "node_modules"
    for index in range(shape.files // 10):
        folder = modules / f"lib{index % 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{index}.js").write_bytes(rnd.randbytes(1500))
    for name in ("data/big-a.bin", "data/big-b.bin"):
        _write_big(root / name, shape.big_mib, rnd)
    for command in (
        ["init", "--quiet"],
        ["config", "core.compression", "0"],  # the objects only need to exist
        ["add", "--all"],
        ["commit", "--quiet", "-m", "workspace"],
    ):
        subprocess.run(["git", *command], cwd=root, env=GIT_ENV, check=True)
    for index in range(shape.files // 100):  # some untracked files too
        (root / f"pkg00/untracked{index}.txt").write_bytes(rnd.randbytes(3000))
    marker.write_text("", encoding="utf-8")
    print(f"generated {root} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def generate_huge(shape: Shape) -> None:
    """The folders of one and of two huge files, once."""
    rnd = random.Random(SEED)
    for count in (1, 2):
        names = [f"huge-{index}.bin" for index in range(count)]
        _big_files(shape.huge_folder(count), names, shape.huge_mib, rnd)


def generate_one_file(shape: Shape) -> None:
    """The folder of one big file, once."""
    _big_files(shape.one_file_folder, ["big.bin"], shape.big_mib, random.Random(SEED))


def _big_files(folder: Path, names: list[str], mib: int, rnd: random.Random) -> None:
    """A folder of files of ``mib`` MiB each, once; a repository of its own (benchmarks/out/
    is ignored by the repository around it)."""
    marker = folder / ".git" / "generated"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    for name in names:
        _write_big(folder / name, mib, rnd)
    subprocess.run(["git", "init", "--quiet"], cwd=folder, env=GIT_ENV, check=True)
    marker.write_text("", encoding="utf-8")


def _write_big(path: Path, mib: int, rnd: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(rnd.randbytes(1 << 20))


@dataclass
class Measure:
    """One command to time, with its measurements."""

    name: str
    argv: list[str]
    cwd: Path
    before: Callable[[], None] | None = None
    terminal: bool = False
    """Whether the plan draws its progress bar, on a pseudo-terminal."""
    env: dict[str, str] | None = None
    seconds: list[float] = field(default_factory=list)
    inside: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    """With ``peak``: the largest resident set of each run (MEASURE_PEAK)."""
    peak: bool = False

    def run(self) -> None:
        if self.before is not None:
            self.before()
        with _pseudo_terminal() if self.terminal else contextlib.nullcontext(-1) as follower:
            start = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-c", MEASURE_PEAK, *self.argv] if self.peak else self.argv,
                cwd=self.cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(follower,) if self.terminal else (),
                env={**(self.env or os.environ), "BENCH_BAR_FD": str(follower)},
            )
            assert process.stderr is not None
            err = process.stderr.read()
            process.wait()
            self.seconds.append(time.perf_counter() - start)
            process.stderr.close()
        if process.returncode != 0:
            raise SystemExit(f"{self.name} failed: {err.decode(errors='replace')}")
        if self.peak:
            self.peak_mib.append(int(err.decode().splitlines()[-1]) / 1024)
        if self.argv[1:3] == ["-c", RUN_PLAN]:
            self.inside.append(json.loads(err.decode().splitlines()[-1])["seconds"])

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def cell(self) -> str:
        text = f"{self.median:.3f} s"
        if self.inside:
            text += f" [{statistics.median(self.inside):.3f}]"
        return text


@contextlib.contextmanager
def _pseudo_terminal() -> Iterator[int]:
    """A pseudo-terminal 120 columns wide, read (and thrown away) as it is drawn on;
    its follower's descriptor."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def drain() -> None:
        with contextlib.suppress(OSError):
            while os.read(leader, 65536):
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield follower
    finally:
        os.close(follower)
        reader.join(10)
        os.close(leader)


# One plan, as the command makes it: written to stdout, stats on stderr; with --bar,
# the command's progress bar on the descriptor BENCH_BAR_FD, and with --no-timer, no
# tick and no report of bytes from the workers as they read. A program of its own, so
# that the process imports what acp imports and nothing of this script.
RUN_PLAN = """\
import os, sys, time
from acp_cli.workspace import build_plan, describe
if "--no-timer" in sys.argv:
    describe.TICK = None
    describe.REPORT_BYTES = 1 << 62
bar = None
if "--bar" in sys.argv:
    from acp_cli.cli.render import PlanProgressBar
    bar = PlanProgressBar(os.fdopen(int(os.environ["BENCH_BAR_FD"]), "w"))
start = time.perf_counter()
built = build_plan(sys.argv[1], cache="--no-cache" not in sys.argv, progress=bar)
if bar is not None:
    bar.close()
seconds = time.perf_counter() - start
sys.stdout.buffer.write(built.data + b"\\n")
print(f'{{"seconds": {seconds}}}', file=sys.stderr)
"""


# Runs the command given as arguments and prints the largest resident set of it and
# of the children it waited for (hashing workers, git), in KiB. A launcher of its
# own: a process forked from this script counts this script's size until it execs.
MEASURE_PEAK = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""

# The bare client of the prepare row: the plan (canonical, one line) on stdin,
# signed and posted as it is, the session's ID printed.
BARE_POST = (
    """
import hashlib, os, sys, httpx
data = sys.stdin.buffer.read().rstrip(b"\\n")
signature = "sha256:" + hashlib.sha256(data).hexdigest()
body = b'{"planSignature":"' + signature.encode() + b'","plan":' + data + b"}"
"""
    + POST_PLAN
)
PLAN_AND_POST = '"$1" push plan "$2" -q | "$3" -c "$4" "$5"'


def plan_command(folder: Path, *options: str) -> list[str]:
    """The command as a user runs it."""
    return [ACP, "push", "plan", str(folder), "-q", *options]


def script_command(folder: Path, *options: str) -> list[str]:
    """``build_plan`` called by a few lines of Python (see RUN_PLAN)."""
    return [sys.executable, "-c", RUN_PLAN, str(folder), *options]


def change_files(folder: Path, count: int, rnd: random.Random) -> Callable[[], None]:
    """Rewrite ``count`` tracked small files, then wait out the racy-git window, as
    a user who edits files and plans a few seconds later does."""
    candidates = sorted(str(path) for path in (folder / "pkg05").rglob("f*") if path.suffix != ".o")

    def change() -> None:
        for name in rnd.sample(candidates, count):
            Path(name).write_bytes(rnd.randbytes(3000))
        pause()

    return change


def pause() -> None:
    """The wait before a re-plan, the same whether files changed or not: a first run
    after an idle moment is slower (CPU caches and clock), which the comparison of
    the two re-plans must not count as the cost of the change."""
    time.sleep(2.2)


def scale(rounds: int, tree: Path | None) -> None:
    """The warm re-plan of a 1,000,000-file tree against git status, and the peak
    memory of its full plan (``make bench-scale``; the tree is generated once, or
    ``tree`` is one generated already, only read)."""
    if tree is None:
        generate(SCALE)
    elif not (tree / ".generated").exists():
        sys.exit(f"{tree} is no generated tree: it has no .generated marker")
    root = tree or SCALE.folder
    cache_dir = OUT / "cache-scale"
    os.environ["ACP_CACHE_DIR"] = str(cache_dir)
    shutil.rmtree(cache_dir, ignore_errors=True)  # the first plan is a full one
    full = Measure("full plan", plan_command(root), root, peak=True)
    full.run()  # and the cache
    warm = Measure("re-plan, cache warm", plan_command(root), root, before=pause)
    memory = Measure("re-plan, its memory", plan_command(root), root, before=pause, peak=True)
    memory.run()
    status = Measure("git status --porcelain", ["git", "status", "--porcelain"], root)
    for _ in range(rounds):
        warm.run()
        status.run()
    peak = max(full.peak_mib + memory.peak_mib)
    print(
        f"\nworkspace: {root}; medians of {rounds} rounds; load average "
        f"{' '.join(f'{load:.2f}' for load in os.getloadavg())} on {os.cpu_count()} cores\n"
        f"| what | acp | baseline | baseline time | ratio | goal |\n|{'---|' * 6}\n"
        f"| `acp push plan TREE -q`, cache warm, 1M files | {warm.cell()} | `{status.name}` | "
        f"{status.cell()} | {warm.median / status.median:.2f}x | <= 2.0x |\n"
        f"| peak memory, 1M files | {peak:.0f} MiB | | | | <= 1024 MiB "
        f"{'ok' if peak <= 1024 else 'MISSED'} |\n"
        f"(full plan {max(full.peak_mib):.0f} MiB, warm re-plan {max(memory.peak_mib):.0f} MiB)"
    )


def one_file_measures(shape: Shape) -> tuple[Measure, Measure]:
    """The plan of the one big file's folder, and openssl hashing the file."""
    folder = shape.one_file_folder
    one = Measure("plan of one big file", plan_command(folder, "--no-cache"), folder)
    big = str(folder / "big.bin")
    return one, Measure("openssl dgst -sha256", ["openssl", "dgst", "-sha256", big], folder)


def one_file(shape: Shape, rounds: int) -> None:
    """Only the plan of one big file against openssl (``--one-file``)."""
    one, openssl = one_file_measures(shape)
    one.run()  # the page cache
    openssl.run()
    for _ in range(rounds):
        one.run()
        openssl.run()
    print(
        f"\n{shape.one_file_folder}; medians of {rounds} rounds, wall clock, each a process; "
        f"load average after the run: {' '.join(f'{load:.2f}' for load in os.getloadavg())} "
        f"on {os.cpu_count()} cores\n"
    )
    what = f"`acp push plan DIR --no-cache -q`, one {shape.big_mib} MiB file"
    print_rows([(what, one, openssl, 1.2)])


def print_rows(rows: list[tuple[str, Measure, Measure, float]]) -> None:
    """The table of ``rows`` (what, acp, baseline, goal): medians and their ratio."""
    print(f"| what | acp | baseline | baseline time | ratio | goal |\n|{'---|' * 6}")
    for what, ours, baseline, goal in rows:
        if not (ours.seconds and baseline.seconds):
            continue  # a row --tree-only leaves out
        ratio = ours.median / baseline.median
        verdict = f"<= {goal}x {'ok' if ratio <= goal else 'MISSED'}" if goal < math.inf else "-"
        print(
            f"| {what} | {ours.cell()} | `{baseline.name}` | {baseline.cell()} | "
            f"{ratio:.2f}x | {verdict} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10,000 files and 2x20 MiB")
    parser.add_argument(
        "--scale", action="store_true", help="1,000,000 files: the warm re-plan and memory only"
    )
    parser.add_argument(
        "--one-file",
        action="store_true",
        help="only the plan of one big file against openssl (start-up, imports, git, hashing); "
        "generates only that folder",
    )
    parser.add_argument(
        "--scale-tree",
        type=Path,
        help="with --scale: a 1,000,000-file tree generated already (by another checkout)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measure (default 3)")
    parser.add_argument(
        "--tree-only",
        action="store_true",
        help="only the rows of the many-file tree (no big or huge files written or timed)",
    )
    args = parser.parse_args()

    compileall.compile_dir(HERE.parent / "src" / "acp_cli", quiet=1)
    if args.scale:
        scale(args.rounds, args.scale_tree)
        return
    shape = SMALL if args.small else FULL
    if not args.tree_only:
        generate_one_file(shape)
    if args.one_file:
        one_file(shape, args.rounds)
        return
    generate(shape)
    if not args.tree_only:
        generate_huge(shape)
    root = shape.folder
    cache_dir = OUT / "cache"
    os.environ["ACP_CACHE_DIR"] = str(cache_dir)  # the plan processes inherit it
    shutil.rmtree(cache_dir, ignore_errors=True)
    hash_listed = "git ls-files -co --exclude-standard -z | xargs -0 -P2 -n256 openssl dgst -sha256"
    full = Measure("full plan, no cache", plan_command(root, "--no-cache"), root)
    baseline_full = Measure(hash_listed, ["sh", "-c", hash_listed], root)
    memory = Measure("full plan, its memory", plan_command(root, "--no-cache"), root, peak=True)
    warm = Measure("re-plan, cache warm", plan_command(root), root, before=pause)
    status = Measure("git status --porcelain", ["git", "status", "--porcelain"], root)
    changed = Measure(
        "re-plan, 100 files changed",
        plan_command(root),
        root,
        before=change_files(root, 100, random.Random(SEED)),
    )
    one, openssl = one_file_measures(shape)
    huge = [
        Measure(
            f"plan of {count} {shape.huge_mib} MiB file{'s' if count > 1 else ''}",
            plan_command(shape.huge_folder(count), "--no-cache"),
            root,
        )
        for count in (1, 2)
    ]
    huge_files = sorted(str(path) for path in shape.huge_folder(2).glob("*.bin"))
    openssl_both = Measure(
        "openssl dgst -sha256 on each, side by side",
        [
            "sh",
            "-c",
            'openssl dgst -sha256 "$1" & openssl dgst -sha256 "$2"; wait',
            "sh",
            *huge_files,
        ],
        root,
    )
    with_bar, without_timer = (
        Measure(name, script_command(root, "--no-cache", *options), root, terminal=True)
        for name, options in (
            ("full plan, no cache, bar", ["--bar"]),
            ("full plan, no cache, bar without its timer", ["--bar", "--no-timer"]),
        )
    )
    without_bar = Measure("full plan, no cache, no bar", script_command(root, "--no-cache"), root)

    with (
        tempfile.TemporaryDirectory() as config,
        Emulator(tokens=[TOKEN], bindings=[BINDING]) as emulator,
    ):
        client_env = {
            **os.environ,
            "ACP_CONFIG_DIR": config,
            "ACP_API_URL": emulator.url,
            "ACP_TOKEN": TOKEN,
            "NO_PROXY": "*",
        }
        prepare = Measure(
            "acp push prepare B --dir TREE -o id, warm",
            [ACP, "push", "prepare", BINDING, "--dir", str(root), "-o", "id"],
            root,
            env=client_env,
        )
        plan_and_post = Measure(
            "acp push plan TREE -q | bare httpx client",
            ["sh", "-c", PLAN_AND_POST, "sh", ACP, str(root), sys.executable, BARE_POST, BINDING],
            root,
            env=client_env,
        )
        Measure("warm-up", plan_command(root), root).run()  # page cache and hash cache
        prepare.run()  # the device ID
        subprocess.run(["git", "status", "--porcelain"], cwd=root, stdout=subprocess.DEVNULL)
        for round_ in range(args.rounds):
            # the unchanged re-plan follows the changed one, whose files are no longer
            # racy: it measures the steady state that the changed run is held to
            measures = (changed, warm, status, prepare, plan_and_post, full, baseline_full, memory)
            files = () if args.tree_only else (one, openssl, *huge, openssl_both)
            bars = (with_bar, without_timer, without_bar)
            for measure in (*measures, *files, *bars):
                measure.run()
                print(
                    f"  round {round_ + 1}: {measure.name}: {measure.seconds[-1]:.3f} s",
                    file=sys.stderr,
                )

    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.count(b"\0")
    print(
        f"\nworkspace: {root} ({listed:,} files listed, 2 x {shape.big_mib} MiB among them); "
        f"medians of {args.rounds} rounds, wall clock, each a process "
        f"[time inside build_plan]; load average after the run: "
        f"{' '.join(f'{load:.2f}' for load in os.getloadavg())} on {os.cpu_count()} cores\n"
    )
    rows = [
        ("`acp push plan TREE -q`, cache warm", warm, status, 2.0),
        (f"`acp push plan DIR --no-cache -q`, one {shape.big_mib} MiB file", one, openssl, 1.2),
        ("`acp push plan TREE --no-cache -q`", full, baseline_full, 1.0),
        ("`acp push prepare B --dir TREE -o id`, warm", prepare, plan_and_post, 1.2),
        ("re-plan, 100 files changed", changed, warm, 1.15),
        (f"two {shape.huge_mib} MiB files", huge[1], huge[0], 1.3),
        (f"two {shape.huge_mib} MiB files, vs openssl", huge[1], openssl_both, 1.2),
        ("full plan, the bar's timer", with_bar, without_timer, 1.02),
        ("full plan, the bar (no goal)", with_bar, without_bar, math.inf),
    ]
    print_rows(rows)
    peak = max(memory.peak_mib)
    print(
        f"| peak memory, `acp push plan TREE --no-cache -q` | {peak:.0f} MiB | | | | "
        f"<= 100 MiB {'ok' if peak <= 100 else 'MISSED'} |"
    )
    if args.small:
        print("\n--small: the goals are for the full workspace.")


if __name__ == "__main__":
    main()
