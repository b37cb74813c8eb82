"""``acp push prepare``, ``acp push plan`` and ``acp push signature``."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from acp_cli.cli.context import Invocation, OutputError
from acp_cli.cli.options import (
    NETWORK_OPTIONS,
    PLAIN_HELP,
    ExcludeOption,
    Flags,
    NoCacheOption,
    QuietOption,
    command,
    epilog,
)
from acp_cli.cli.push_diff import DIFF_EPILOG, diff, since_last_prepared
from acp_cli.cli.render import (
    REUSED_METADATA_NOTE,
    OutputFormat,
    PlanProgressBar,
    plan_summary,
    write_data,
    write_dry_run,
    write_result,
)
from acp_cli.errors import UsageError, WriteError
from acp_cli.files import write_atomic
from acp_cli.settings import origin_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from acp_cli.client import SignedPlan
    from acp_cli.large_plan import Limits
    from acp_cli.workspace import BuiltPlan

app = typer.Typer(
    name="push",
    help="Prepare pushes of a local workspace to ACP.\n\n"
    "A push starts from a plan: a JSON object describing the files to push. "
    "`acp push plan` describes a folder as one; `acp push prepare` sends a plan (or "
    "the plan of a folder, with --dir) with its signature so the server can prepare "
    "a push session, or reuse the one it prepared for the same plan; `acp push "
    "signature` only computes the signature; `acp push diff` shows what changed "
    "between two plans.",
    epilog=epilog(
        "Examples:",
        [
            "acp push prepare wb_123 --dir .",
            "acp push plan -o plan.json",
            "acp push prepare wb_123 --plan plan.json",
            "acp push signature plan.json",
            "acp push diff sent.json .",
        ],
    ),
    no_args_is_help=True,
    rich_markup_mode=PLAIN_HELP,
)

command(app, epilog=DIFF_EPILOG)(diff)

PREPARE_EPILOG = epilog(
    "Examples:",
    [
        "acp push prepare wb_123 --dir .",
        "acp push prepare wb_123 --dir . --exclude '*.log' --save-plan sent.json -o id",
        "acp push prepare wb_123 --plan plan.json",
        "acp push plan | acp push prepare wb_123 --plan - -o id",
        "acp push prepare wb_123 --plan plan.json --meta branch=main --meta attempt:=3 --json",
        "acp push prepare wb_123 --plan plan.json --dry-run",
        "acp push prepare wb_123 --plan plan.json --timeout 120 --ca-bundle corp-ca.pem",
    ],
    "Failed attempts are retried (up to 4 attempts) on connection errors, timeouts, "
    "408, 429 and 5xx but 501/505, waiting 0.5-1 s, 1-2 s, then 2-4 s, or longer when "
    "the server asks with Retry-After (up to 60 s).",
)

SIGNATURE_EPILOG = epilog("Example:", ["acp push signature plan.json"])

PlanOption = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        metavar="PLAN_FILE",
        help="The push plan: a file holding one JSON object, or - for standard input.",
        dir_okay=False,
        show_default=False,
    ),
]
DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        metavar="DIR",
        help="Describe the workspace folder DIR as the plan (as `acp push plan DIR` does) "
        "and send that.",
        file_okay=False,
        show_default=False,
    ),
]
SavePlanOption = Annotated[
    Path | None,
    typer.Option(
        "--save-plan",
        metavar="FILE",
        help="With --dir: also write the plan sent to FILE.",
        dir_okay=False,
        show_default=False,
    ),
]
WorkspaceArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DIR",
        help="The workspace folder to describe.",
        file_okay=False,
        show_default="the current folder",
    ),
]
AllowEmptyOption = Annotated[
    bool,
    typer.Option(
        "--allow-empty",
        help="Prepare a push of a plan that lists no files (refused otherwise: an ignored "
        "or empty folder is usually a mistake).",
    ),
]


@command(app, epilog=PREPARE_EPILOG)
def prepare(
    here: Invocation,
    binding: Annotated[
        str,
        typer.Argument(metavar="BINDING", help="The workspace binding ID.", show_default=False),
    ],
    plan: PlanOption = None,
    directory: DirOption = None,
    save_plan: SavePlanOption = None,
    exclude: ExcludeOption = None,
    no_cache: NoCacheOption = False,
    allow_empty: AllowEmptyOption = False,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            metavar="FILE",
            help="A JSON object sent as the session's metadata.",
            dir_okay=False,
        ),
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option(
            "--meta",
            metavar="KEY=VALUE",
            help="Add a metadata string (KEY=VALUE) or JSON value (KEY:=JSON); "
            "repeatable; wins over --metadata.",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON (same as -o json).")
    ] = False,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="Output format: table (the default), json (the server's answer) or id "
            "(the session ID alone).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the request that would be sent (token masked) and send nothing; "
            "as JSON with --json or -o json/id.",
        ),
    ] = False,
    network: Flags = NETWORK_OPTIONS,
    quiet: QuietOption = False,
) -> None:
    """Prepare a push session for a workspace binding from a push plan.

    Reads the plan, computes its signature (RFC 8785 + SHA-256) and posts both
    to the ACP API. The server answers with a new session (201) or, when a
    prepared session with the same plan signature exists, reuses it (200).
    The output says which.
    """
    from acp_cli.request import push_sessions_url

    fmt = OutputFormat.choose(json_output, output)
    _check_plan_source(plan, directory, save_plan, exclude, no_cache)
    metadata_text, given = _read_inputs(here, binding, plan, metadata, meta or [], allow_empty)
    client = here.client(network, announce_retries=not quiet)
    push_sessions_url(client.api_url, binding)  # settings, token, URL: before hashing a folder
    signed = given or _plan_of_folder(
        here, directory, exclude, no_cache, quiet, save_plan, allow_empty
    )
    out, terminal = here.stdout, here.terminal()
    if dry_run:
        request = client.push_request(binding, signed, metadata=metadata_text)
        write_dry_run(request, signed.signature, fmt=fmt, out=out, terminal=terminal)
        return
    session = client.prepare_push_session(binding, signed, metadata=metadata_text)
    show_since = fmt is OutputFormat.TABLE and out.isatty()
    since_last_prepared(here, origin_of(client.api_url), binding, signed.data, show=show_since)
    write_result(session, binding_id=binding, fmt=fmt, out=out, terminal=terminal)
    if metadata_text is not None and not session.created:
        here.messages.info(REUSED_METADATA_NOTE)


def _read_inputs(
    here: Invocation,
    binding: str,
    plan: Path | None,
    metadata: Path | None,
    meta: list[str],
    allow_empty: bool,
) -> tuple[bytes | None, SignedPlan | None]:
    """What is checked before anything else, without the network: the binding ID, the
    metadata's JSON text, and the plan given with --plan, signed (None with --dir)."""
    from acp_cli.cli.push_input import plan_source, read_metadata, source_name
    from acp_cli.client import sign_plan
    from acp_cli.request import binding_segment

    binding_segment(binding)  # a bad binding ID is refused before any work
    stdin = here.stdin_reader("the plan or metadata")
    metadata_path = None if metadata is None else str(metadata)
    if plan is not None and str(plan) == "-" and metadata_path == "-":
        raise UsageError("--plan and --metadata cannot both read standard input.")
    metadata_text = read_metadata(metadata_path, meta, stdin)
    if plan is None:
        return metadata_text, None
    signed = sign_plan(plan_source(plan, stdin))
    if not allow_empty and _lists_no_files(signed.data):
        why = f"the plan read from {source_name(str(plan))} lists no files"
        raise _empty_plan(why, "what made the plan")
    return metadata_text, signed


def _plan_of_folder(
    here: Invocation,
    directory: Path | None,
    exclude: list[str] | None,
    no_cache: bool,
    quiet: bool,
    output: Path | None,
    allow_empty: bool,
) -> BuiltPlan:
    """The plan of DIR (`_build_plan`), written to ``output`` too when given (--save-plan
    of prepare, -o of plan)."""
    assert directory is not None  # _check_plan_source: --dir when not --plan
    built = _build_plan(
        here,
        directory,
        exclude or [],
        cache=not no_cache,
        quiet=quiet,
        own_files=_written_to(output),
        allow_empty=allow_empty,
    )
    if output is not None:
        _save_plan(built, output)
    return built


def _check_plan_source(
    plan: Path | None,
    directory: Path | None,
    save_plan: Path | None,
    exclude: list[str] | None,
    no_cache: bool,
) -> None:
    """One of --plan and --dir, and the options of --dir only with it."""
    if (plan is None) == (directory is None):
        raise UsageError(
            "Give the plan as --plan PLAN_FILE or the workspace folder as --dir DIR (one of them).",
            hint="For example: `acp push prepare wb_123 --dir .`",
        )
    if directory is None and (save_plan is not None or exclude or no_cache):
        raise UsageError(
            "--save-plan, --exclude and --no-cache go with --dir.",
            hint="With --plan the plan is the file as it is.",
        )


_EMPTY_ARRAY = re.compile(rb"\[[ \t\n\r]*\]")
"""An empty JSON array: a plan whose text holds none cannot have an empty ``files``."""


def _lists_no_files(data: bytes) -> bool:
    """Whether a plan read with --plan has a ``files`` list, and it is empty.

    The members are read (a token walk in Python, about ten times the signing of a
    large plan) only when the text holds an empty array at all."""
    from acp_cli.strict_json import object_members

    if _EMPTY_ARRAY.search(data) is None:
        return False
    return b"".join(dict(object_members(data)).get("files", b"").split()) == b"[]"


def _empty_plan(why: str, check: str) -> UsageError:
    return UsageError(
        f"Nothing to push: {why}.",
        hint=f"Check {check}, or give --allow-empty to prepare an empty push anyway.",
    )


@command(app, epilog=SIGNATURE_EPILOG)
def signature(
    here: Invocation,
    plan: Annotated[
        Path,
        typer.Argument(
            metavar="PLAN_FILE",
            help="The push plan: a file holding one JSON object, or - for standard input.",
            dir_okay=False,
            show_default=False,
        ),
    ],
) -> None:
    """Print the signature of a push plan; send nothing.

    The signature is "sha256:" and the lowercase hex SHA-256 of the plan's
    RFC 8785 (JSON Canonicalization Scheme) form: the same plan gives the same
    signature whatever its key order, whitespace or escaping.
    """
    from acp_cli.cli.push_input import plan_source
    from acp_cli.client import sign_plan

    signed = sign_plan(plan_source(plan, here.stdin_reader("the plan")))
    here.stdout.write(signed.signature + "\n")


PLAN_EPILOG = epilog(
    "Examples:",
    [
        "acp push plan > plan.json",
        "acp push plan path/to/workspace -o plan.json --exclude '*.log' --exclude /build/",
        "acp push plan | acp push prepare wb_123 --plan -",
        "acp push plan --explain notes.log --explain build/out.bin",
    ],
    "Which files: those git would list (tracked and untracked, less what .gitignore, "
    ".git/info/exclude and core.excludesFile ignore), less what .acpignore files and "
    "--exclude patterns leave out. Outside a git work tree, as if DIR were a fresh "
    "repository. The plan is written in canonical form: its SHA-256 (without the last "
    "newline) is the plan signature.",
)


@command(app, "plan", epilog=PLAN_EPILOG)
def plan_(
    here: Invocation,
    directory: WorkspaceArgument = Path("."),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the plan to FILE (atomically) instead of standard output.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    exclude: ExcludeOption = None,
    no_cache: NoCacheOption = False,
    explain: Annotated[
        list[str] | None,
        typer.Option(
            "--explain",
            metavar="PATH",
            help="Print no plan: say whether PATH (relative to DIR) is in it, and if not, "
            "the rule or reason that leaves it out; repeatable.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bar, no summary line, no note, no large-plan warning.",
        ),
    ] = False,
) -> None:
    """Describe the files of a workspace folder as a push plan (format version 1).

    Each file is listed with its path, size, SHA-256 and mode, as git sees them;
    symlinks are listed, never followed. Hashes of unchanged files come from a
    cache, so planning an unchanged tree again takes a fraction of the first time.
    The plan goes to -o FILE or a pipe; onto a terminal it is refused (exit 2).
    """
    if explain:
        from acp_cli.cli.push_explain import explain_paths

        explain_paths(here, directory, explain, exclude or [], cache=not no_cache, output=output)
        return
    if output is None and here.stdout.isatty():
        _refuse_plan_on_terminal(directory, exclude or [], no_cache)
    built = _plan_of_folder(here, directory, exclude, no_cache, quiet, output, allow_empty=True)
    if output is None:
        write_data(built.data + b"\n", here.stdout)


def _refuse_plan_on_terminal(directory: Path, excludes: list[str], no_cache: bool) -> None:
    """Refuse, before any work, to write a plan onto a terminal: it is JSON for a file
    or a program, one line that can run to megabytes. The hint repeats the command."""
    import shlex

    words = ["acp", "push", "plan"]
    if directory != Path("."):
        words.append(str(directory))
    for pattern in excludes:
        words += ["--exclude", pattern]
    if no_cache:
        words.append("--no-cache")
    command = shlex.join(words)
    raise UsageError(
        "The plan is JSON for a file or a program, not for a terminal: one line that "
        "can run to megabytes.",
        hint=f"Write it to a file, `{command} -o plan.json`, or pipe it into a program, "
        f"`{command} | less`.",
    )


def _written_to(path: Path | None) -> dict[Path | str, str]:
    """The file a plan is written to, as one of acp's own files to leave out of it."""
    return {} if path is None else {path: "the plan is written to it"}


def _build_plan(
    here: Invocation,
    directory: Path,
    excludes: list[str],
    *,
    cache: bool,
    quiet: bool,
    own_files: Mapping[Path | str, str],
    allow_empty: bool,
) -> BuiltPlan:
    """Build the plan of ``directory``, with a progress bar and a summary on a terminal
    (not in CI, not with -q), a warning for each path skipped, and a note (not with
    -q) of acp's own files left out: ``own_files`` (the file the plan is written to,
    a plan it is compared with: path -> why), the one standard output is redirected
    to, the cache, temporary files. A plan that lists no files is refused unless
    ``allow_empty``, else a warning says why."""
    from acp_cli.large_plan import Limits  # not at start-up: only --dir plans are measured
    from acp_cli.workspace import build_plan

    large = None if quiet else Limits.from_env(here.env)  # checked before any hashing
    leave_out: dict[Path | str, str] = dict(own_files)
    redirected = _stdout_file(here)
    if redirected is not None:
        leave_out[redirected] = "standard output is written to it"
    on_terminal = here.stderr.isatty() and not quiet and not here.env.get("CI")
    bar = PlanProgressBar(here.stderr) if on_terminal else None
    try:
        built = build_plan(
            directory,
            excludes=excludes,
            cache=cache,
            env=here.env,
            progress=bar,
            leave_out=leave_out,
        )
    finally:
        if bar is not None:
            bar.close()
    for skipped in built.skipped:
        here.messages.warning(str(skipped))
    if built.left_out and not quiet:
        what = "; ".join(f"{left.path} ({left.reason})" for left in built.left_out)
        here.messages.info(f"Note: acp's own files are left out of the plan: {what}.")
    if built.why_empty:
        why = f"the plan of {directory} lists no files: {built.why_empty}"
        if not allow_empty:
            raise _empty_plan(why, "the folder and its ignore rules")
        here.messages.warning(f"{why}.")
    if large is not None:
        _warn_if_large(here, built, large)
    if on_terminal:
        here.messages.info(plan_summary(built.files, built.total_bytes, len(built.skipped)))
    return built


def _stdout_file(here: Invocation) -> str | None:
    """The path of the regular file standard output is redirected to, when the system
    names it (``/proc/self/fd``, Linux) and that path is still the file itself."""
    try:
        descriptor = here.stdout.fileno()
        opened = os.fstat(descriptor)
        path = os.readlink(f"/proc/self/fd/{descriptor}")
        named = os.stat(path)
    except (OSError, ValueError, OutputError):  # in memory, closed, or no /proc
        return None
    same = (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
    return path if same and stat.S_ISREG(opened.st_mode) else None


def _warn_if_large(here: Invocation, built: BuiltPlan, limits: Limits) -> None:
    """Warn about a plan of more files or bytes than ``limits`` (large_plan_* settings)."""
    from acp_cli.large_plan import large_plan, warning_lines

    found = large_plan(built.data, built.files, built.total_bytes, limits)
    if found is not None:
        first, *rest = warning_lines(found, limits)
        here.messages.warning(first)
        for line in rest:
            here.messages.info(line, indent="  ")


def _save_plan(built: BuiltPlan, path: Path) -> None:
    """Write the plan to ``path`` with the one writer of acp's files (a symlink is written
    through, a device or FIFO in place, a regular file replaced atomically)."""
    import errno

    try:
        write_atomic(path, built.data + b"\n", mode=0o644)
    except OSError as exc:
        message = f"Cannot write the plan to {path}: {exc.strerror or exc}."
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            raise WriteError(message, hint="Free some room, or write it elsewhere.") from None
        raise UsageError(message, hint="Check the path and the folder's permissions.") from None
