"""`make demo`: prepare push sessions against the bundled emulator.

Starts `acp-emulator` on a free loopback port with a demo token and binding,
points acp at it through a temporary config folder, then runs
`acp push prepare` twice on examples/plan.json and twice on the folder
examples/workspace (each time a new session, then the same session reused),
and stops the emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TOKEN = "demo-token-0123456789abcdef"
BINDING = "wb_demo"


def main() -> int:
    """Run the demo; return the exit code of the first failing step, else 0."""
    emulator = subprocess.Popen(
        [
            str(BIN / "acp-emulator"),
            "--port",
            "0",
            "--token",
            TOKEN,
            "--binding",
            BINDING,
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    config = Path(tempfile.mkdtemp(prefix="acp-demo-"))
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip()
        if not url:
            print("The emulator did not start.", file=sys.stderr)
            return 1
        env = {
            **os.environ,
            "ACP_CONFIG_DIR": str(config),
            "ACP_API_URL": url,
            "ACP_TOKEN": TOKEN,
            "ACP_CACHE_DIR": str(config / "cache"),
        }
        print(f"acp-emulator is listening on {url}; config folder {config}\n")
        plan = ["--plan", os.path.relpath(HERE / "plan.json")]
        folder = ["--dir", os.path.relpath(HERE / "workspace")]
        for source in (plan, folder):
            for attempt in ("first", "second"):
                command = ["acp", "push", "prepare", BINDING, *source]
                print(f"$ {' '.join(command)}    # {attempt} run")
                done = subprocess.run([str(BIN / "acp"), *command[1:]], env=env, check=False)
                print()
                if done.returncode:
                    return done.returncode
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        shutil.rmtree(config, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
