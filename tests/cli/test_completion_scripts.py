"""The committed completion scripts, loaded in the real shells and asked for completions.

Each shell runs with the virtual environment's `acp` first on PATH and
ACP_CONFIG_DIR pointing at a config with two profiles. A shell that is missing
skips its tests on a developer's machine and fails them in CI (CI=true), where
.ci/run installs bash, bash-completion, zsh and fish.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from acp_cli.settings import PROFILE_KEYS
from tests.support.cli_runner import BIN
from tests.support.paths import REPO
from tests.support.shells import BASH_COMPLETION, missing, require

COMPLETIONS = REPO / "src" / "acp_cli" / "completions"

CONFIG = """\
# [profiles.commented] is not a profile
device_id = "3f1c0c5e-2d0b-4a43-9d0a-8f6f1d1e2a10"

[profiles.default]
api_url = "https://api.example.com"

[profiles.staging]
api_url = "https://staging.example.com"
timeout = 60
"""

# (the command line up to the cursor, the completions expected there)
CASES = [
    ("acp pu", ["push"]),
    ("acp ", ["auth", "completion", "config", "push"]),
    ("acp completion ", ["bash", "fish", "powershell", "zsh"]),
    ("acp completion z", ["zsh"]),
    ("acp push pr", ["prepare"]),
    ("acp push prepare b --pl", ["--plan"]),
    ("acp push prepare b -o ", ["id", "json", "table"]),
    ("acp push prepare b --output j", ["json"]),
    ("acp --profile ", ["default", "staging"]),
    ("acp --profile s", ["staging"]),
    ("acp push prepare b --profile ", ["default", "staging"]),
    ("acp --profile staging push pr", ["prepare"]),
    ("acp push prepare b --plan pl", ["plan.json", "plans"]),
    ("acp push prepare b --metadata m", ["meta.json"]),
    ("acp push signature p", ["plan.json", "plans"]),
    ("acp config get ", sorted(PROFILE_KEYS)),
    ("acp auth st", ["status"]),
]


@pytest.fixture
def workdir(isolated_env: Path, tmp_path: Path) -> Path:
    """A config with two profiles, and a folder of files to complete, as the cwd."""
    isolated_env.mkdir(parents=True, exist_ok=True)
    (isolated_env / "config.toml").write_text(CONFIG, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    for name in ("plan.json", "meta.json", "notes.txt"):
        (work / name).write_text("{}\n", encoding="utf-8")
    (work / "plans").mkdir()
    return work


@pytest.fixture
def shell_env() -> dict[str, str]:
    """The test's environment with the virtual environment's `acp` first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def normalized(words: list[str]) -> list[str]:
    """Completions sorted, without the slash some shells add to folders."""
    return sorted({word.rstrip("/") for word in words if word})


# --- bash ----------------------------------------------------------------------------------------

BASH_DRIVER = r"""
set -u
[[ -n ${LOAD_BASH_COMPLETION:-} ]] && source "$LOAD_BASH_COMPLETION"
source "$SCRIPT"
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_acp
printf '<reply>%s\n' "${COMPREPLY[@]}"
"""


def bash_words(line: str) -> list[str]:
    """COMP_WORDS as bash makes them: split at spaces, and at `=` (COMP_WORDBREAKS)."""
    words: list[str] = []
    for word in line.split(" "):
        head, equals, tail = word.partition("=")
        if equals and head.startswith("--"):
            words += [head, "=", *([tail] if tail else [])]
        else:
            words.append(word)
    return words


def bash_complete(
    line: str, cwd: Path, env: Mapping[str, str], *, bash_completion: bool
) -> list[str]:
    """What `_acp` puts in COMPREPLY for ``line`` with the cursor at its end."""
    env = dict(env, SCRIPT=str(COMPLETIONS / "acp"))
    if bash_completion:
        env["LOAD_BASH_COMPLETION"] = str(BASH_COMPLETION)
    result = run_shell(
        [require("bash"), "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", *bash_words(line)],
        cwd,
        env,
    )
    return re.findall(r"^<reply>(.*)$", result.stdout, re.M)


def run_shell(
    argv: list[str], cwd: Path, env: Mapping[str, str], *, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a shell's ``argv`` in ``cwd`` with ``env``: it must exit 0; what it printed."""
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(params=[False, True], ids=["plain", "bash-completion"])
def with_bash_completion(request: pytest.FixtureRequest) -> bool:
    """Run bash bare, and with the bash-completion package loaded (its _filedir)."""
    if request.param and not BASH_COMPLETION.is_file():
        missing("bash-completion")
    return bool(request.param)


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_bash(
    line: str,
    expected: list[str],
    workdir: Path,
    shell_env: dict[str, str],
    with_bash_completion: bool,
) -> None:
    got = bash_complete(line, workdir, shell_env, bash_completion=with_bash_completion)
    assert normalized(got) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("acp push prepare b --output=", ["id", "json", "table"]),
        ("acp push prepare b --output=t", ["table"]),
        ("acp push prepare b --plan=pl", ["plan.json", "plans"]),
        ("acp push prepare b --profile=staging -o ", ["id", "json", "table"]),
        ("acp push prepare b --json -", None),
    ],
)
def test_bash_equals_and_options(
    line: str, expected: list[str] | None, workdir: Path, shell_env: dict[str, str]
) -> None:
    got = normalized(bash_complete(line, workdir, shell_env, bash_completion=False))
    if expected is None:  # every option of the command, globals included
        assert {"--plan", "--meta", "-o", "--profile", "--verbose", "--help"} <= set(got)
    else:
        assert got == expected


# --- zsh -----------------------------------------------------------------------------------------

# An interactive zsh whose compadd records the matches that reach the list, and
# which exits as soon as one completion is done.
ZSHRC = r"""
PS1='> '
unsetopt beep
{load}
zstyle ':completion:*' list-grouped false
compadd() {{
  if (( ${{@[(I)-[OAD]]}} )); then builtin compadd "$@"; return; fi
  local -a __hits
  builtin compadd -O __hits "$@"
  (( $#__hits )) && print -rl -- '' "${{(@)__hits/#/<hit>}}"
  builtin compadd "$@"
}}
_acp_test_done() {{ print -r -- '' '<done>'; exit }}
comppostfuncs=(_acp_test_done)
bindkey '^I' complete-word
print -r -- '<ready>'
"""

ZSH_LOADERS = {
    # as installed: an autoloaded function on $fpath
    "fpath": f"fpath=({COMPLETIONS} $fpath)\nautoload -Uz compinit && compinit -u -D",
    # as a user may load it by hand
    "source": f"autoload -Uz compinit && compinit -u -D\nsource {COMPLETIONS / '_acp'}",
}


def zsh_complete(line: str, cwd: Path, env: Mapping[str, str], *, load: str) -> list[str]:
    """The matches zsh offers for ``line`` when Tab is pressed at its end."""
    import pty

    zsh = require("zsh")
    zdotdir = cwd.parent / f"zdotdir-{load}"
    zdotdir.mkdir(exist_ok=True)
    (zdotdir / ".zshrc").write_text(ZSHRC.format(load=ZSH_LOADERS[load]), encoding="utf-8")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [zsh, "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=dict(env, ZDOTDIR=str(zdotdir), TERM="xterm"),
        start_new_session=True,
    )
    os.close(slave)
    output = bytearray()
    try:
        _read_until(master, output, b"<ready>")
        os.write(master, line.encode() + b"\t")
        _read_until(master, output, b"<done>")
    finally:
        process.kill()
        process.wait(timeout=10)
        os.close(master)
    text = output.decode(errors="replace").replace("\r", "")
    return re.findall(r"^<hit>(.*)$", text, re.M)


def _read_until(fd: int, output: bytearray, marker: bytes, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while marker not in output:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"zsh did not print {marker!r}; it printed:\n{output.decode()}")
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the shell is gone
            chunk = b""
        if not chunk:
            raise AssertionError(f"zsh stopped before {marker!r}; it printed:\n{output.decode()}")
        output += chunk


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_zsh(line: str, expected: list[str], workdir: Path, shell_env: dict[str, str]) -> None:
    assert normalized(zsh_complete(line, workdir, shell_env, load="fpath")) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("acp push pr", ["prepare"]),
        ("acp --profile ", ["default", "staging"]),
        ("acp push prepare b --output=", ["id", "json", "table"]),
    ],
)
def test_zsh_sourced(
    line: str, expected: list[str], workdir: Path, shell_env: dict[str, str]
) -> None:
    assert normalized(zsh_complete(line, workdir, shell_env, load="source")) == expected


# --- fish ----------------------------------------------------------------------------------------


def fish_complete(line: str, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """What fish's `complete -C` offers for ``line``, the descriptions dropped."""
    result = run_shell(
        [
            require("fish"),
            "--no-config",
            "-c",
            "source $argv[1]; complete -C $argv[2]",
            str(COMPLETIONS / "acp.fish"),
            line,
        ],
        cwd,
        env,
    )
    assert result.stderr == ""
    return [entry.split("\t")[0] for entry in result.stdout.splitlines()]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_fish(line: str, expected: list[str], workdir: Path, shell_env: dict[str, str]) -> None:
    assert normalized(fish_complete(line, workdir, shell_env)) == expected


def test_fish_output_equals(workdir: Path, shell_env: dict[str, str]) -> None:
    got = fish_complete("acp push prepare b --output=", workdir, shell_env)
    assert sorted(got) == ["--output=id", "--output=json", "--output=table"]


# --- PowerShell: not packaged for Debian, so this runs only where pwsh is installed -----------


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_powershell(
    line: str, expected: list[str], workdir: Path, shell_env: dict[str, str]
) -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh is not installed")
    if expected and Path(workdir / expected[0]).exists():
        pytest.skip("paths are PowerShell's own completion")
    command = (
        f". '{COMPLETIONS / 'acp.ps1'}'; "
        "(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length)"
        ".CompletionMatches | ForEach-Object CompletionText"
    )
    result = run_shell(
        [pwsh, "-NoProfile", "-NonInteractive", "-Command", command, line],
        workdir,
        shell_env,
        timeout=60,
    )
    assert normalized(result.stdout.splitlines()) == expected


# --- profile names that need quoting, typed into the real interactive shells ----------------

QUOTED_PROFILES = ["a b", "it's", 'x"y', "café", "$HOME", "back\\slash"]
QUOTED_CONFIG = """\
[profiles."a b"]
[profiles."it's"]
[profiles.'x"y']
[profiles."caf\\u00e9"]
[profiles."$HOME"]
[profiles.'back\\slash']
"""

# (what is typed after `acp --profile `, the one profile it must complete to)
QUOTED_CASES = [
    ("a", "a b"),
    ('"a', "a b"),
    ("'a", "a b"),
    ("a\\ ", "a b"),
    ("i", "it's"),
    ('"i', "it's"),
    ("'i", "it's"),
    ("x", 'x"y'),
    ('"x', 'x"y'),
    ("'x", 'x"y'),
    ("ca", "café"),
    ("\\$", "$HOME"),
    ("'$", "$HOME"),
    ("b", "back\\slash"),
    ('"b', "back\\slash"),
]

# Each shell starts interactive on a terminal with the committed script loaded
# and an `acp` function that prints its arguments: what Tab then Enter hands to
# acp is exactly what the shell made of the completed line. The script itself
# runs the real acp (`command acp`) for the names.
SHELL_RCS = {
    "bash": """\
PS1='> '
source @COMPLETIONS@/acp
acp() { printf '<arg>%s\\n' "$@"; }
echo '<ready>'
""",
    "zsh": """\
PS1='> '
unsetopt beep
fpath=(@COMPLETIONS@ $fpath)
autoload -Uz compinit && compinit -u -D
acp() { printf '<arg>%s\\n' "$@" }
echo '<ready>'
""",
    "fish": """\
source @COMPLETIONS@/acp.fish
function acp; printf '<arg>%s\\n' $argv; end
echo '<ready>'
""",
}


def typed_and_run(shell: str, line: str, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The arguments `acp` receives when ``line``, Tab and Enter are typed into ``shell``."""
    import fcntl
    import pty
    import termios

    program = require(shell)
    rc = cwd.parent / f"rc-{shell}"
    rc.mkdir(exist_ok=True)
    rc_file = rc / ".zshrc"  # the name zsh looks for in ZDOTDIR; the others are told
    rc_file.write_text(SHELL_RCS[shell].replace("@COMPLETIONS@", str(COMPLETIONS)))
    command = {
        "bash": [program, "--noprofile", "--rcfile", str(rc_file), "-i"],
        "zsh": [program, "-i"],
        "fish": [program, "--no-config", "-i", "-C", f"source {rc_file}"],
    }[shell]

    def controlling_terminal() -> None:  # fish needs one; the others do not mind
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    master, slave = pty.openpty()
    process = subprocess.Popen(
        command,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=dict(env, ZDOTDIR=str(rc), TERM="dumb", INPUTRC="/dev/null"),
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    output = bytearray()
    try:
        _read_until(master, output, b"<ready>")
        # Completion runs before the shell reads the next key, so Enter may follow at once.
        os.write(master, line.encode() + b"\t\r")
        os.write(master, b"echo '<''done>'\r")
        _read_until(master, output, b"<done>\r")
    finally:
        process.kill()
        process.wait(timeout=10)
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", output.decode())
    return re.findall(r"^<arg>(.*?)\r?$", text.replace("\r\n", "\n"), re.M)


@pytest.fixture
def quoted_workdir(isolated_env: Path, tmp_path: Path) -> Path:
    isolated_env.mkdir(parents=True, exist_ok=True)
    (isolated_env / "config.toml").write_text(QUOTED_CONFIG, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize(("typed", "name"), QUOTED_CASES)
def test_a_completed_profile_name_reaches_acp_as_one_argument(
    shell: str, typed: str, name: str, quoted_workdir: Path, shell_env: dict[str, str]
) -> None:
    got = typed_and_run(shell, f"acp --profile {typed}", quoted_workdir, shell_env)
    assert got == ["--profile", name]


def test_bash_replies_are_each_one_shell_word(
    quoted_workdir: Path, shell_env: dict[str, str]
) -> None:
    # Without bash-completion's helpers: each reply, read back by bash, is one name.
    replies = bash_complete("acp --profile ", quoted_workdir, shell_env, bash_completion=False)
    words = subprocess.run(
        [require("bash"), "-c", 'for reply in "$@"; do eval "printf \'%s\\n\' $reply"; done',
         "bash", *replies],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert sorted(words) == sorted(QUOTED_PROFILES)


def test_zsh_and_fish_offer_every_quoted_name(
    quoted_workdir: Path, shell_env: dict[str, str]
) -> None:
    assert sorted(fish_complete("acp --profile ", quoted_workdir, shell_env)) == sorted(
        QUOTED_PROFILES
    )
    hits = zsh_complete("acp --profile ", quoted_workdir, shell_env, load="fpath")
    assert sorted(hits) == sorted(QUOTED_PROFILES)
