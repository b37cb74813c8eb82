"""``acp push prepare`` and ``acp push signature``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from acp_cli.cli.options import (
    ApiUrlOption,
    CaBundleOption,
    ConnectTimeoutOption,
    DeadlineOption,
    NoColorOption,
    ProfileOption,
    QuietOption,
    TimeoutOption,
    VerboseOption,
    environment,
    global_options,
)
from acp_cli.errors import UsageError
from acp_cli.render import OutputFormat

app = typer.Typer(
    name="push",
    help="Prepare pushes of a local workspace to ACP.\n\n"
    "A push starts from a plan: a JSON object describing the files to push. "
    "`acp push prepare` sends it with its signature so the server can prepare a push "
    "session, or reuse the one it prepared for the same plan; `acp push signature` "
    "only computes the signature.",
    epilog="Examples:\n\n  acp push prepare wb_123 --plan plan.json\n\n"
    "  acp push signature plan.json",
    no_args_is_help=True,
)

PREPARE_EPILOG = """\
Examples:

  acp push prepare wb_123 --plan plan.json

  generate-plan | acp push prepare wb_123 --plan - -o id

  acp push prepare wb_123 --plan plan.json --meta branch=main --meta attempt:=3 --json

  acp push prepare wb_123 --plan plan.json --dry-run

  acp push prepare wb_123 --plan plan.json --timeout 120 --ca-bundle corp-ca.pem

Failed attempts are retried (up to 4 attempts) on connection errors, timeouts,
408, 429 and 5xx but 501/505, waiting 0.5-1 s, 1-2 s, then 2-4 s, or longer when the
server asks with Retry-After (up to 60 s).
"""

SIGNATURE_EPILOG = """\
Example:

  acp push signature plan.json
"""

PlanArgument = Annotated[
    Path,
    typer.Option(
        "--plan",
        metavar="PLAN_FILE",
        help="The push plan: a file holding one JSON object, or - for standard input.",
        dir_okay=False,
        show_default=False,
    ),
]


@app.command(epilog=PREPARE_EPILOG)
def prepare(
    ctx: typer.Context,
    binding: Annotated[
        str,
        typer.Argument(metavar="BINDING", help="The workspace binding ID.", show_default=False),
    ],
    plan: PlanArgument,
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
    timeout: TimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    deadline: DeadlineOption = None,
    ca_bundle: CaBundleOption = None,
    quiet: QuietOption = False,
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Prepare a push session for a workspace binding from a push plan.

    Reads the plan, computes its signature (RFC 8785 + SHA-256) and posts both
    to the ACP API. The server answers with a new session (201) or, when a
    prepared session with the same plan signature exists, reuses it (200).
    The output says which.
    """
    from acp_cli import config_file, credentials, retry, settings, transport
    from acp_cli.push_input import read_push_input
    from acp_cli.render import Messages, Terminal, write_dry_run, write_result
    from acp_cli.request import prepare_request, push_sessions_url, request_body

    opts = global_options(ctx)
    if json_output and output not in (None, OutputFormat.JSON):
        raise UsageError("--json and -o/--output disagree.", hint="Give one of them.")
    fmt = OutputFormat.JSON if json_output else (output or OutputFormat.TABLE)
    env = environment()
    messages = Messages()

    push = read_push_input(
        plan_path=str(plan),
        metadata_path=None if metadata is None else str(metadata),
        meta=meta or [],
        stdin=sys.stdin.buffer,
    )
    conf = settings.resolve(
        profile=opts.profile,
        api_url=opts.api_url,
        env=env,
        timeout=timeout,
        connect_timeout=connect_timeout,
        deadline=deadline,
        ca_bundle=None if ca_bundle is None else str(ca_bundle),
    )
    policy = retry.RetryPolicy(deadline=conf.deadline, scale=retry.scale_from_env(env))
    # A binding ID that cannot be sent is refused before the token is looked up.
    push_sessions_url(conf.api_url, binding)
    token = credentials.resolve_token(conf.origin, env, conf.config_dir)
    request = prepare_request(
        api_url=conf.api_url,
        binding_id=binding,
        token=token.value,
        device_id=config_file.device_id(conf.config_dir, env),
        body=request_body(push.signature, push.plan_json, push.metadata),
    )
    terminal = Terminal.detect(sys.stdout, no_color=opts.no_color, env=env)
    if dry_run:
        write_dry_run(request, push.signature, fmt=fmt, out=sys.stdout, terminal=terminal)
        return
    result = transport.send_prepare(
        request,
        binding_id=binding,
        timeout=transport.Timeouts.of(conf.timeout, conf.connect_timeout),
        log=messages.info if opts.verbose else None,
        announce=None if quiet else messages.info,
        policy=policy,
        ca_bundle=conf.ca_bundle,
    )
    write_result(result, binding_id=binding, fmt=fmt, out=sys.stdout, terminal=terminal)


@app.command(epilog=SIGNATURE_EPILOG)
def signature(
    plan: Annotated[
        Path,
        typer.Argument(
            metavar="PLAN_FILE",
            help="The push plan: a file holding one JSON object, or - for standard input.",
            dir_okay=False,
            show_default=False,
        ),
    ],
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Print the signature of a push plan; send nothing.

    The signature is "sha256:" and the lowercase hex SHA-256 of the plan's
    RFC 8785 (JSON Canonicalization Scheme) form: the same plan gives the same
    signature whatever its key order, whitespace or escaping.
    """
    from acp_cli.push_input import read_plan

    _, plan_signature = read_plan(str(plan), sys.stdin.buffer)
    sys.stdout.write(plan_signature + "\n")
