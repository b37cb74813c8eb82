"""The acp(1) man page, in troff -man, rendered from the command tree.

The commands and options come from the tree; the environment variables and
config keys from the registry of settings (``acp_cli.settings.SETTINGS``); the
exit codes from ``acp_cli.errors.ExitCode``. The other variables, the folders
and the examples are written here, next to the code that renders them.
`groff -man -ww -z` and `mandoc -T lint` must report nothing on the result
(tests/project/test_docs.py).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from acp_cli.settings import CA_BUNDLE, CACHE_DIR, CONFIG_DIR, PROFILE_KEYS, SETTINGS
from tools.command_tree import GENERATED, Argument, Command, Option

PAGE_DATE = "2026-11-28"
"""The date in the page footer: the date of the version it describes. A fixed
string, not the clock, so that regenerating gives the same bytes; change it
when acp_cli.__version__ changes."""


NAME_LINE = "command-line client for the ACP API"

OTHER_ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("NO_COLOR", "When set to anything, never colour the output, as --no-color."),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        "The proxy to reach the API through, and the hosts to reach without it.",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        f"CA certificates to trust instead of the default ones; {CA_BUNDLE.variable} and "
        f"{CA_BUNDLE.flag} add to them.",
    ),
)
"""The variables acp honours that are not its own settings (those come from the registry)."""


def environment() -> list[tuple[str, str]]:
    """The ENVIRONMENT section's entries: each setting with a variable, then the others."""
    entries = []
    for setting in SETTINGS.values():
        if not setting.variable:
            continue
        text = setting.help
        if setting.flag:
            text += f" Used when {setting.flag} is not given"
            text += f"; wins over the profile's {setting.name}." if setting.profile_key else "."
        elif setting.profile_key:
            text += f" Wins over the profile's {setting.name}."
        if setting.default_text or setting.default is not None:
            text += f" Default: {setting.default_text or f'{setting.default:g}'}."
        entries.append((setting.variable, text))
    return [*entries, *OTHER_ENVIRONMENT]


CONFIG_FOLDERS: tuple[tuple[str, str], ...] = (
    ("Linux and other Unix systems", "$XDG_CONFIG_HOME/acp/, by default ~/.config/acp/"),
    ("macOS", "~/Library/Application Support/acp/"),
    ("Windows", "%LOCALAPPDATA%\\acp\\acp\\"),
)

CACHE_FOLDERS: tuple[tuple[str, str], ...] = (
    ("Linux and other Unix systems", "$XDG_CACHE_HOME/acp/, by default ~/.cache/acp/"),
    ("macOS", "~/Library/Caches/acp/"),
    ("Windows", "%LOCALAPPDATA%\\acp\\acp\\Cache\\"),
)

EXIT_MEANINGS: dict[str, str] = {
    "OK": "Success.",
    "UNEXPECTED": "Unexpected error (a bug): one line, and -v for the traceback. Also "
    "acp config get KEY for a key that nothing sets, as git config.",
    "USAGE": "Usage or bad local input: an unknown option, an unreadable or invalid plan "
    "or metadata file, a bad binding ID, a bad config.",
    "AUTH": "Authentication: no token, an unusable keyring, HTTP 401 or 403.",
    "NOT_FOUND": "Not found: HTTP 404 (the binding).",
    "REJECTED": "Rejected by the server: HTTP 400, 409, 413, 422 and other 4xx.",
    "UNAVAILABLE": "Unavailable or misbehaving server: a network error, a timeout, 429 or "
    "5xx after the retries, a redirect, a success answer that is not the documented JSON.",
    "OUTPUT": "The output could not be written (a full disk, a closed standard output): "
    "one line naming the stream; whatever was done on the server stays done.",
    "HUNG_UP": "Stopped by SIGHUP (the terminal closed): workers ended, temporary files removed.",
    "INTERRUPTED": "Interrupted (Ctrl-C, SIGINT).",
    "BROKEN_PIPE": "The reader of the output went away (acp ... | head): acp ends quietly, "
    "as if killed by SIGPIPE.",
    "TERMINATED": "Stopped by SIGTERM (kill, a CI job's timeout): workers ended, temporary "
    "files removed.",
}

EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "On a developer's machine: set the API once, log in once (the token goes to the "
        "system keyring), then prepare a push:",
        (
            "acp config set api_url https://api.example.com",
            "acp auth login",
            "acp push prepare wb_123 --plan plan.json",
        ),
    ),
    (
        "In a shell script: take the session ID alone, and stop on failure with acp's exit status:",
        (
            'session=$(acp push prepare "$BINDING" --plan plan.json -o id) || exit $?',
            'echo "prepared $session"',
        ),
    ),
    (
        "In a CI job: the API URL and the token come from the environment (the token "
        "from the CI's secret store), no keyring and no config file needed:",
        (
            "export ACP_API_URL=https://api.example.com",
            'export ACP_TOKEN="$ACP_TOKEN_SECRET"',
            'acp push prepare "$BINDING" --dir . --save-plan plan.json --json > session.json',
        ),
    ),
)

SEE_ALSO = ("acp-emulator", "the README of the acp-cli project")


def man_page(root: Command) -> str:
    """The whole page: ``man/acp.1``."""
    from acp_cli import __version__

    globals_ = _global_options(root)
    lines = [
        f'.\\" {GENERATED}',
        f'.TH ACP 1 {PAGE_DATE} "acp {__version__}" "User Commands"',
        ".nh",  # no hyphenation: option names and config keys must stay whole
        ".SH NAME",
        f"acp \\- {_escape(NAME_LINE)}",
        ".SH SYNOPSIS",
    ]
    leaves = [command for command in root.walk() if not command.commands]
    synopses = [_synopsis(root, globals_)] + [_synopsis(leaf, globals_) for leaf in leaves]
    lines += _join_with(synopses, ".br")
    lines += [".SH DESCRIPTION", *_paragraphs([root.summary, *root.description])]
    lines += [
        ".PP",
        *_text(
            "The global options below work before or after the command: "
            "acp -v push prepare ... and acp push prepare ... -v do the same."
        ),
        ".SH GLOBAL OPTIONS",
    ]
    lines += _options([*_root_only(root, globals_), *globals_])
    lines.append(".SH COMMANDS")
    for command in root.walk():
        if command.path:
            lines += _command_section(command, globals_)
    lines += _environment()
    lines += _files()
    lines += _exit_status()
    lines += _examples()
    lines += [".SH SEE ALSO", *_text(f"{SEE_ALSO[0]} \\-\\-help, {SEE_ALSO[1]}.", escaped=True)]
    return "\n".join(_tidy(lines)) + "\n"


# --- sections ------------------------------------------------------------------------------------


def _global_options(root: Command) -> list[Option]:
    """The root's options that commands accept again after their name."""
    leaves = [command for command in root.walk() if not command.commands]
    return [
        option
        for option in root.options
        if any(_has_option(leaf, option) for leaf in leaves)
        and option.names[0] not in ("--help", "--version")
    ]


def _has_option(command: Command, option: Option) -> bool:
    return any(own.names == option.names for own in command.options)


def _root_only(root: Command, globals_: list[Option]) -> list[Option]:
    return [option for option in root.options if option not in globals_]


def _synopsis(command: Command, globals_: list[Option]) -> list[str]:
    words = [f"\\fB{_escape(command.name)}\\fR"]
    if command.commands:
        words += ["[\\fIOPTIONS\\fR]", "\\fICOMMAND\\fR", "[\\fIARGS\\fR]..."]
        return [" ".join(words)]
    words += [_argument_usage(argument) for argument in command.arguments]
    words += [
        _option_usage(option)
        for option in command.options
        if option.required and option not in globals_
    ]
    if any(not option.required for option in command.options):
        words.append("[\\fIOPTIONS\\fR]")
    return [" ".join(words)]


def _argument_usage(argument: Argument) -> str:
    usage = f"\\fI{_escape(argument.metavar)}\\fR"
    if argument.variadic:
        usage += "..."
    return usage if argument.required else f"[{usage}]"


def _option_usage(option: Option) -> str:
    usage = f"\\fB{_escape(option.names[0])}\\fR"
    if option.metavar:
        usage += f" \\fI{_escape(option.metavar)}\\fR"
    return usage


def _command_section(command: Command, globals_: list[Option]) -> list[str]:
    lines = [f".SS {_escape(command.name)}"]
    if not command.commands:
        lines += _synopsis(command, globals_)
        lines.append(".PP")
    lines += _paragraphs([command.summary, *command.description], first_pp=command.commands != ())
    if command.commands:
        lines += [".PP", *_text("Commands:")]
        lines += [
            line
            for child in command.commands
            for line in (".TP", f"\\fB{_escape(child.path[-1])}\\fR", *_text(child.summary))
        ]
    for argument in command.arguments:
        lines += [".TP", f"\\fI{_escape(argument.metavar)}\\fR", *_text(argument.help)]
    global_names = {option.names for option in globals_}
    own = [
        option
        for option in command.options
        if option.names not in global_names and option.names[0] != "--help"
    ]
    lines += _options(own)
    if any(_has_option(command, option) for option in globals_):
        lines += [".PP", *_text("The global options are accepted here too.")]
    lines += _epilog(command.epilog)
    return lines


def _options(options: Iterable[Option]) -> list[str]:
    lines = []
    for option in options:
        names = sorted(option.names, key=lambda name: name.startswith("--"))  # -o before --output
        head = ", ".join(f"\\fB{_escape(name)}\\fR" for name in names)
        if option.metavar:
            head += f" \\fI{_escape(option.metavar)}\\fR"
        text = option.help
        if option.repeatable and "repeatable" not in text.lower():
            text += " May be repeated."
        lines += [".TP", head, *_text(text)]
    return lines


def _epilog(epilog: str) -> list[str]:
    """An epilog: text paragraphs, and indented lines (examples) kept as they are."""
    lines: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if code:
            while code and not code[-1]:
                code.pop()
            lines.extend([".PP", ".RS 4", ".nf", *code, ".fi", ".RE"])
            code.clear()

    for block in re.split(r"\n[ \t]*\n", epilog.strip("\n")):
        if not block.strip():
            continue
        block = block.removeprefix("\b\n")  # commands kept as written (acp_cli.cli.options.epilog)
        if block.startswith(" "):
            if code:
                code.append("")
            code.extend(_escape_line(line) for line in textwrap.dedent(block).splitlines())
        else:
            flush()
            lines += [".PP", *_text(block)]
    flush()
    return lines


def _environment() -> list[str]:
    lines = [".SH ENVIRONMENT"]
    for name, meaning in environment():
        lines += [".TP", f"\\fB{_escape(name)}\\fR", *_text(meaning)]
    return lines


def _files() -> list[str]:
    from acp_cli.credentials import CREDENTIALS_NAME
    from acp_cli.settings.file import CONFIG_NAME

    lines = [".SH FILES"]
    lines += _text(
        f"acp keeps two files in its config folder: {CONFIG_DIR.variable} when it is set, "
        "else the platform's config folder for acp:"
    )
    for platform, folder in CONFIG_FOLDERS:
        lines += [".TP", _escape(platform), f"\\fI{_escape(folder)}\\fR"]
    lines += [
        ".TP",
        f"\\fI{_escape(CONFIG_NAME)}\\fR",
        *_text(
            "The settings, in TOML: device_id, the ID of this machine, created on first "
            "need; and one [profiles.NAME] table per profile. acp config reads and writes "
            "it; it is written atomically, readable by its owner only (mode 0600, in a "
            "0700 folder), and its comments are kept. The keys of a profile:"
        ),
        ".RS",
    ]
    for key in PROFILE_KEYS.values():
        text = key.help
        if _is_number(key.default):
            text += f" Default: {key.default:g}."
        if key.variable:
            text += f" Overridden by {key.variable}."
        lines += [".TP", f"\\fB{_escape(key.name)}\\fR", *_text(text)]
    lines += [
        ".RE",
        ".TP",
        f"\\fI{_escape(CREDENTIALS_NAME)}\\fR",
        *_text(
            "Tokens stored in plain text by acp auth login \\-\\-insecure\\-storage, "
            "mode 0600. Without that option tokens go to the system keyring (service "
            "acp\\-cli, user name the API origin), and this file does not exist. As "
            "OpenSSH does for its keys, acp writes it only in a folder that the user owns "
            "and no one else can write to (mode 0755 is fine, 0775 is not), and refuses to "
            "use a token from it when the file, or the file a symlink points to, is not "
            "the user's own or can be read or changed by others (fix: chmod 600).",
            escaped=True,
        ),
    ]
    lines += [".PP"]
    lines += _text(
        f"Caches (the file hashes of each workspace planned) go to {CACHE_DIR.variable} "
        "when it is set, else the platform's cache folder for acp:"
    )
    for platform, folder in CACHE_FOLDERS:
        lines += [".TP", _escape(platform), f"\\fI{_escape(folder)}\\fR"]
    return lines


def _exit_status() -> list[str]:
    from acp_cli.errors import ExitCode

    lines = [".SH EXIT STATUS"]
    for code in ExitCode:
        lines += [".TP", f"\\fB{int(code)}\\fR", *_text(EXIT_MEANINGS[code.name])]
    lines += [
        ".PP",
        *_text(
            "Every error message, on standard error, names what failed and what to do "
            "next, with the server's own message and request ID when it sent them. "
            "Standard output carries data only."
        ),
    ]
    return lines


def _examples() -> list[str]:
    lines = [".SH EXAMPLES"]
    for text, commands in EXAMPLES:
        lines += [".PP", *_text(text), ".PP", ".RS 4", ".nf"]
        lines += [_escape_line(command) for command in commands]
        lines += [".fi", ".RE"]
    return lines


# --- troff ---------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tidy(lines: list[str]) -> list[str]:
    """Drop paragraph requests that follow a heading or another paragraph request."""
    out: list[str] = []
    for line in lines:
        if line == ".PP" and out and out[-1].startswith((".SH", ".SS", ".PP")):
            continue
        out.append(line)
    return out


def _join_with(groups: list[list[str]], separator: str) -> list[str]:
    lines: list[str] = []
    for group in groups:
        if lines:
            lines.append(separator)
        lines += group
    return lines


def _paragraphs(paragraphs: Iterable[str], first_pp: bool = True) -> list[str]:
    lines: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if index or first_pp:
            lines.append(".PP")
        lines += _text(paragraph)
    return lines


def _escape(text: str) -> str:
    """``text`` for a troff text line: backslashes, hyphens and non-ASCII escaped."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "".join(char if ord(char) < 128 else f"\\[u{ord(char):04X}]" for char in text)


def _escape_line(text: str) -> str:
    """One line kept as it is (no-fill mode), escaped, never read as a request."""
    line = _escape(text)
    return "\\&" + line if line.startswith((".", "'")) else line


def _text(text: str, *, escaped: bool = False) -> list[str]:
    """A paragraph as filled text lines of at most 80 bytes."""
    body = text if escaped else _escape(text)
    body = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", body)  # `acp config set ...` in bold
    lines = textwrap.wrap(body, width=79, break_long_words=False, break_on_hyphens=False)
    out = []
    for line in lines:
        if line.startswith((".", "'")):
            line = "\\&" + line
        if line.endswith(("e.g.", "i.e.")):
            line += "\\&"  # not the end of a sentence
        out.append(line)
    return out
