"""What only a real process shows: the console script's exit statuses with closed,
full and broken streams, terminal encodings, and Ctrl-C at any moment of start-up.

Everything else about commands is tested in-process through ``run()``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import acp_cli
from acp_cli.emulator import Emulator
from acp_cli.settings import LARGE_PLAN_BYTES
from tests.support.cli_runner import ACP, BINDING
from tests.support.shells import shell


@pytest.mark.parametrize(
    "command",
    [
        "acp push prepare {b} --plan {p} -o id <&-",
        "acp push signature {p} <&-",
        "acp auth status <&-",
    ],
)
def test_a_closed_stdin_is_fine_when_nothing_reads_it(
    command: str, emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    done = shell(command.format(b=BINDING, p=plan_file), api_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


@pytest.mark.parametrize(
    "command",
    ["acp push prepare {b} --plan - <&-", "acp auth login --with-token <&-"],
)
def test_a_closed_stdin_that_is_asked_for_is_exit_2(
    command: str, emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    done = shell(command.format(b=BINDING, p=plan_file), api_env)
    assert done.returncode == 2
    assert "Standard input is closed" in done.stderr
    assert "Traceback" not in done.stderr
    assert emulator.requests() == []


@pytest.mark.parametrize(
    ("redirect", "said"),
    [(">&-", "it is closed"), (">/dev/full", "No space left on device")],
)
def test_output_that_cannot_be_written_is_exit_74_after_the_session_exists(
    redirect: str, said: str, emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    done = shell(f"acp push prepare {BINDING} --plan {plan_file} -o id {redirect}", api_env)
    assert done.returncode == 74
    assert done.stderr.splitlines()[0] == f"Error: Cannot write to standard output: {said}."
    assert "bug" not in done.stderr
    assert len(emulator.sessions()) == 1


@pytest.mark.parametrize(
    "command",
    [
        "acp push prepare {b} --plan {p} -o id",
        "acp push prepare {b} --plan {p} --json",
        "acp push prepare {b} --plan {p}",
        "acp --help",
    ],
)
def test_a_reader_that_went_away_is_a_quiet_141(
    command: str, emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    # The reader (true) is gone before acp writes, as with `acp ... | head -0`.
    acp_command = command.format(b=BINDING, p=plan_file)
    done = shell(f"set -o pipefail; {{ sleep 0.3; {acp_command}; }} | true", api_env)
    assert done.returncode == 141
    assert done.stderr == ""


@pytest.mark.parametrize("command", ["acp --version", "acp config profiles"])
@pytest.mark.parametrize(
    ("redirect", "code", "said"),
    [
        (">&-", 74, "Error: Cannot write to standard output: it is closed."),
        (">/dev/full", 74, "Error: Cannot write to standard output: No space left on device."),
        ("|", 141, None),  # the reader went away before acp wrote
    ],
)
def test_what_is_answered_before_the_tree_loads_keeps_the_exit_statuses(
    command: str, redirect: str, code: int, said: str | None, isolated_env: Path
) -> None:
    # acp_cli.cli.quick answers these without Typer, within the same boundary.
    isolated_env.mkdir(mode=0o700)
    (isolated_env / "config.toml").write_text("[profiles.default]\n")
    if redirect.startswith("|"):
        done = shell(f"set -o pipefail; {{ sleep 0.3; {command}; }} | true", {})
    else:
        done = shell(f"{command} {redirect}", {})
    assert done.returncode == code
    if said is None:
        assert done.stderr == ""
    else:
        assert done.stderr.splitlines() == [
            said,
            "  The output is incomplete; nothing else went wrong.",
        ]


def test_an_ascii_terminal_gets_escapes_not_a_crash(
    make_emulator: Callable[..., Emulator], plan_file: Path
) -> None:
    emulator = make_emulator(tokens=["t"])  # any binding exists
    env = {"ACP_API_URL": emulator.url, "ACP_TOKEN": "t", "PYTHONIOENCODING": "ascii"}
    done = shell(f"acp push prepare 'wb-😀' --plan {plan_file}", env)
    assert done.returncode == 0, done.stderr
    assert "wb-\\U0001f600" in done.stdout
    [session] = emulator.sessions()
    assert session["workspaceBindingId"] == "wb-😀"


@pytest.mark.parametrize(
    "entry",
    [
        "from acp_cli.__main__ import main\nmain()\n",  # the console script
        "import runpy\nrunpy.run_module('acp_cli', run_name='__main__')\n",  # python -m acp_cli
    ],
    ids=["acp", "python-m"],
)
@pytest.mark.parametrize(
    "args", [("push", "signature", "{plan}"), ("config", "list"), ("completion", "bash")]
)
def test_the_garbage_collector_is_on_while_a_command_runs(
    args: tuple[str, ...], entry: str, plan_file: Path
) -> None:
    # The console script turns it off for its start-up only: a long command (a plan of
    # a million files) runs with it, as any Python program does.
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'\\n<gc>{gc.isenabled()}'))\n"
        f"sys.argv = ['acp', *{[arg.format(plan=plan_file) for arg in args]!r}]\n"
        f"{entry}"
    )
    done = subprocess.run(
        [str(ACP.parent / "python"), "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.rpartition("<gc>")[2] == "True"


@pytest.fixture(scope="module")
def compiled() -> None:
    """acp's bytecode, as ``pip install`` leaves it (this machine sets
    PYTHONDONTWRITEBYTECODE, so an editable checkout would compile on every run)."""
    import compileall

    assert compileall.compile_dir(str(Path(acp_cli.__file__).parent), quiet=1)


@pytest.mark.usefixtures("compiled")
@pytest.mark.parametrize("delay", [0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15])
def test_ctrl_c_at_any_moment_of_start_up_is_interrupted_and_130(
    delay: float, api_env: dict[str, str], plan_file: Path
) -> None:
    # The interpreter's own start-up (site, the console script's first lines) is
    # not acp's: the signal is sent ``delay`` after acp's entry module has loaded,
    # which the import log on stderr shows; everything after is acp's to handle.
    proc = subprocess.Popen(
        [str(ACP), "push", "signature", str(plan_file)],
        env={**os.environ, **api_env, "PYTHONPROFILEIMPORTTIME": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.rstrip().endswith(b"| acp_cli.__main__"):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    stdout, rest = proc.communicate(timeout=30)
    said = [line for line in rest.splitlines() if not line.startswith(b"import time:")]
    if proc.returncode == 0:  # it finished before the signal came
        assert stdout.startswith(b"sha256:")
        return
    # Before main() is in place, SIGINT's default action ends acp (the shell's $? is 130).
    assert proc.returncode in (130, -signal.SIGINT), rest
    assert said == ([b"Interrupted."] if proc.returncode == 130 else []), rest


@pytest.mark.parametrize(
    ("redirect", "before"),
    [("| cat", None), ("> {out}", "old"), (">> {out}", "first\n")],
    ids=["pipe", "truncated-file", "appended-file"],
)
def test_plan_to_a_descriptor_path_writes_where_the_shell_redirected_it(
    redirect: str, before: str | None, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a\n")
    out = tmp_path / "out.txt"
    if before is not None:
        out.write_text(before)
        inode = out.stat().st_ino
    # /dev/fd/1, not /dev/stdout: the same path through /proc, and a writer that
    # got it wrong could not rename anything over a file of the machine's /dev.
    done = shell(f"acp push plan {work} -q -o /dev/fd/1 {redirect.format(out=out)}", {})
    assert done.returncode == 0, done.stderr
    from acp_cli.workspace import build_plan

    plan = build_plan(work, cache=False).data + b"\n"
    if before is None:
        assert done.stdout.encode() == plan
    else:
        assert out.stat().st_ino == inode  # the shell's file, not a new one renamed over it
        kept = before if redirect.startswith(">>") else ""
        assert out.read_bytes() == kept.encode() + plan


@pytest.mark.parametrize("option", ["-o", "--save-plan"])
def test_a_plan_file_too_big_for_the_disk_is_exit_74_and_the_old_file_stays(
    option: str, tmp_path: Path, emulator: Emulator, api_env: dict[str, str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for number in range(100):  # a plan of about 14 kB
        (work / f"file-{number}.txt").write_text(f"{number}\n")
    out = tmp_path / "plan.json"
    out.write_text("")
    # ulimit -f 4: a write past 4 kB fails with EFBIG (Python ignores SIGXFSZ).
    command = f"acp push plan {work} -o {out}"
    if option == "--save-plan":
        command = f"acp push prepare {BINDING} --dir {work} --save-plan {out} --no-cache"
    done = shell(f"ulimit -f 4; {command}", api_env)
    assert done.returncode == 74, done.stderr
    assert f"Cannot write the plan to {out}: File too large." in done.stderr
    assert out.read_text() == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.json")] == []


def test_temporary_files_that_cannot_be_written_are_a_clear_error(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a\n")
    # ulimit -f 0: no regular file can grow, the temporary folder's test file included.
    done = shell(f"ulimit -f 0; acp push plan {work}", {})
    assert done.returncode == 2, done.stderr
    assert "acp could not write its temporary files" in done.stderr
    assert "bug" not in done.stderr


# --- signals while a plan is described --------------------------------------------------


def _workspace_with_a_huge_file(tmp_path: Path) -> Path:
    """700 small files and a sparse 32 GiB one: about a minute of hashing."""
    work = tmp_path / "work"
    work.mkdir()
    for index in range(700):
        (work / f"f{index}.txt").write_text(f"{index}\n", encoding="utf-8")
    with open(work / "huge.bin", "wb") as huge:
        huge.truncate(32 << 30)
    return work


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat_line = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat_line.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _all_ended(pids: list[int]) -> bool:
    """Whether every process of ``pids`` ended, allowing for one that closed its
    descriptors and is still on its way out."""
    deadline = time.monotonic() + 2
    while any(_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@contextlib.contextmanager
def _planning(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[int], Path]]:
    """``acp push plan`` on the huge workspace in its own process group, TMPDIR of its
    own; yields once both hashing workers run and the scratch repository exists. On
    the way out the whole group is killed, whatever the test found: a failed
    assertion must not leave workers hashing a 32 GiB file behind it."""
    work = _workspace_with_a_huge_file(tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    proc = subprocess.Popen(
        [str(ACP), "push", "plan", str(work), "--no-cache"],
        env={**os.environ, "TMPDIR": str(temporary)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = [pid for pid in _children(proc.pid) if _running(pid)]
            if len(workers) >= 2 and list(temporary.iterdir()):
                time.sleep(0.5)  # hashing
                yield proc, workers, temporary
                return
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        raise AssertionError("the workers did not start")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.usefixtures("isolated_git")
@pytest.mark.parametrize(
    ("signum", "to_group", "code", "said"),
    [
        (signal.SIGINT, True, 130, b"Interrupted.\n"),  # Ctrl-C: the terminal's whole group
        (signal.SIGINT, False, 130, b"Interrupted.\n"),
        (signal.SIGTERM, False, 143, b"Stopped by SIGTERM.\n"),  # kill, a CI timeout
        (signal.SIGTERM, True, 143, b"Stopped by SIGTERM.\n"),  # a container stopping
        (signal.SIGHUP, True, 129, b"Stopped by SIGHUP.\n"),  # the terminal closed
    ],
    ids=["ctrl-c", "int", "term", "term-group", "hup-group"],
)
def test_a_signal_while_hashing_ends_every_worker_at_once_and_leaves_nothing(
    tmp_path: Path, signum: signal.Signals, to_group: bool, code: int, said: bytes
) -> None:
    with _planning(tmp_path) as (proc, workers, temporary):
        if to_group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        # The huge file takes a minute: the streams close in seconds only if every
        # process that holds them (acp and its workers) ended.
        stdout, stderr = proc.communicate(timeout=10)
        assert (proc.returncode, stderr, stdout) == (code, said, b"")
        assert _all_ended(workers)
        assert list(temporary.iterdir()) == []


@pytest.mark.usefixtures("isolated_git")
def test_workers_do_not_outlive_a_killed_acp(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: the workers see that their parent is gone and end,
    letting go of the caller's stdout and stderr."""
    with _planning(tmp_path) as (proc, workers, _):
        proc.kill()
        stdout, stderr = proc.communicate(timeout=10)  # EOF once every holder ended
        assert (proc.returncode, stdout, stderr) == (-signal.SIGKILL, b"", b"")
        assert _all_ended(workers)


@pytest.mark.usefixtures("isolated_git")
def test_a_signal_the_caller_ignores_stays_ignored(tmp_path: Path) -> None:
    """nohup, or a background job of a script (SIGINT ignored): acp keeps on. The
    signals come at start-up and while the workers hash (2 GiB: a few seconds)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a\n", encoding="utf-8")
    with open(work / "big.bin", "wb") as big:
        big.truncate(2 << 30)
    done = shell(
        f"trap '' HUP INT; acp push plan {shlex.quote(str(work))} & pid=$!; "
        "for delay in 0.05 0.5 0.5; do sleep $delay; kill -HUP $pid; kill -INT $pid; done; "
        "wait $pid",
        {str(LARGE_PLAN_BYTES.variable): str(4 << 30)},  # no large-plan warning on stderr
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert '"path":"a.txt"' in done.stdout
    assert '"path":"big.bin"' in done.stdout
