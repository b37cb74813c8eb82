"""Start-up benchmark: acp's commands next to the least Python needs for the same job.

Each row runs a command and its baseline as subprocesses, interleaved round
by round on the same machine in the same run (shared machines are noisy), and
prints the medians and their ratio:

- `acp --version`                      vs `python -c pass`
- `acp config profiles`                vs `python -c pass` (what completion runs on Tab)
- `acp push signature plan.json`       vs a bare script: read, orjson, sort, sha256
- `acp push prepare B --plan P -o id`  vs a bare httpx client: read, sign, post, print the ID

The server is the bundled emulator on loopback, in this process.

    .venv/bin/python benchmarks/bench_startup.py [--rounds 30] [--only TEXT]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import acp_cli
from acp_cli.emulator import Emulator

BIN = Path(sys.executable).parent
TOKEN = "bench-token-0123456789abcdef"
BINDING = "wb_bench"

BARE_SIGN = """
import hashlib, sys, orjson
data = open(sys.argv[1], "rb").read()
canonical = orjson.dumps(orjson.loads(data), option=orjson.OPT_SORT_KEYS)
print("sha256:" + hashlib.sha256(canonical).hexdigest())
"""

# Posts ``body`` (the request, the plan signed) and prints the session's ID; the
# end of the bare clients here and in bench_plan.
POST_PLAN = """
response = httpx.post(
    os.environ["ACP_API_URL"] + "/v1/workspace-bindings/" + sys.argv[1] + "/push-sessions",
    content=body,
    headers={
        "Authorization": "Bearer " + os.environ["ACP_TOKEN"],
        "Content-Type": "application/json",
        "ACP-Device-Id": "bench-device",
    },
    timeout=120,
)
response.raise_for_status()
print(response.json()["pushSession"]["id"])
"""

BARE_PREPARE = (
    """
import hashlib, os, sys, orjson, httpx
data = open(sys.argv[2], "rb").read()
canonical = orjson.dumps(orjson.loads(data), option=orjson.OPT_SORT_KEYS)
signature = "sha256:" + hashlib.sha256(canonical).hexdigest()
body = b'{"planSignature":"' + signature.encode() + b'","plan":' + data.strip() + b"}"
"""
    + POST_PLAN
)


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one run; the run must succeed."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        help="run only the rows whose command holds TEXT (repeatable), e.g. --only version",
    )
    args = parser.parse_args()

    # An installed acp has its bytecode compiled at install time (pip does it);
    # an editable checkout run with PYTHONDONTWRITEBYTECODE=1 would instead
    # compile every module of acp on every run and measure the compiler.
    compileall.compile_dir(Path(acp_cli.__file__).parent, quiet=1)
    python = str(BIN / "python")
    acp = str(BIN / "acp")
    with tempfile.TemporaryDirectory() as tmp, Emulator(tokens=[TOKEN], bindings=[BINDING]) as emu:
        plan = Path(tmp) / "plan.json"
        plan.write_text(
            '{"files": [{"path": "a.txt", "size": 3, "mtime": 1.5, "mode": "0644"}], "root": "/w"}'
        )
        env = {
            **os.environ,
            "ACP_CONFIG_DIR": str(Path(tmp) / "config"),
            "ACP_API_URL": emu.url,
            "ACP_TOKEN": TOKEN,
            "NO_PROXY": "*",
        }
        rows = [
            ("acp --version", [acp, "--version"], "python -c pass", [python, "-c", "pass"]),
            (
                "acp config profiles",
                [acp, "config", "profiles"],
                "python -c pass",
                [python, "-c", "pass"],
            ),
            (
                "acp push signature",
                [acp, "push", "signature", str(plan)],
                "bare orjson + sha256",
                [python, "-c", BARE_SIGN, str(plan)],
            ),
            (
                "acp push prepare -o id",
                [acp, "push", "prepare", BINDING, "--plan", str(plan), "-o", "id"],
                "bare httpx client",
                [python, "-c", BARE_PREPARE, BINDING, str(plan)],
            ),
        ]
        if args.only:
            rows = [row for row in rows if any(text in row[0] for text in args.only)]
        for _, ours, _, base in rows:  # warm the page cache and create the device ID
            timed(ours, env)
            timed(base, env)
        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, ours, base_name, base in rows:
                times.setdefault(name, []).append(timed(ours, env))
                times.setdefault(base_name, []).append(timed(base, env))

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Start-up, median of {args.rounds} interleaved runs (wall clock, ms); "
        f"load average after the run: {load} on {os.cpu_count()} cores\n"
    )
    print(f"| {'command':<24} | {'ms':>6} | {'baseline':<22} | {'ms':>6} | {'ratio':>5} |")
    print(f"|{'-' * 26}|{'-' * 8}|{'-' * 24}|{'-' * 8}|{'-' * 7}|")
    for name, _, base_name, _ in rows:
        ours_ms = statistics.median(times[name]) * 1000
        base_ms = statistics.median(times[base_name]) * 1000
        ratio = ours_ms / base_ms
        print(f"| {name:<24} | {ours_ms:6.1f} | {base_name:<22} | {base_ms:6.1f} | {ratio:5.2f} |")


if __name__ == "__main__":
    main()
