"""``acp auth login``, ``logout``, ``status`` and ``token``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acp_cli.cli.context import Invocation
from acp_cli.cli.options import PLAIN_HELP, command, epilog
from acp_cli.cli.render import write_json, write_table
from acp_cli.errors import ConfigError, UsageError
from acp_cli.keyring_guard import SERVICE
from acp_cli.settings import TOKEN
from acp_cli.settings import file as config_file

if TYPE_CHECKING:
    from acp_cli.credentials import Lookup

app = typer.Typer(
    name="auth",
    help="Log in, log out and check which token acp uses.\n\n"
    f"The token is looked up in this order: {TOKEN.variable}, the system keyring (service "
    "acp-cli, user name = the API origin), then the plain-text file written by "
    "`acp auth login --insecure-storage`. A token is only sent to the origin it was "
    "stored for.",
    epilog=epilog(
        "Examples:",
        [
            "acp auth login",
            'printf %s "$TOKEN" | acp auth login --with-token',
            "acp auth status --json",
        ],
    ),
    no_args_is_help=True,
    rich_markup_mode=PLAIN_HELP,
)

LOGIN_EPILOG = epilog(
    "Examples:",
    [
        "acp auth login",
        "acp auth login --profile staging",
        'printf %s "$ACP_DEPLOY_TOKEN" | acp auth login --with-token',
        "acp auth login --with-token --insecure-storage < token.txt",
    ],
)

LOGOUT_EPILOG = epilog("Examples:", ["acp auth logout", "acp auth logout --profile staging"])

STATUS_EPILOG = epilog(
    "Examples:",
    [
        "acp auth status",
        "acp auth status --json",
        'acp auth status >/dev/null && echo "a token is available"',
    ],
    "Exit status: 0 when a token is available for the API origin, 2 when no API URL "
    "is configured (or the configuration is broken), 3 when there is no usable token.",
)

PRINT_EPILOG = epilog(
    "Examples:",
    [
        'curl -H "Authorization: Bearer $(acp auth token)" https://api.example.com/...',
        "acp auth token --profile staging",
    ],
)


@command(app, epilog=LOGIN_EPILOG)
def login(
    here: Invocation,
    with_token: Annotated[
        bool,
        typer.Option(
            "--with-token",
            help="Read the token from standard input instead of prompting for it.",
        ),
    ] = False,
    insecure_storage: Annotated[
        bool,
        typer.Option(
            "--insecure-storage",
            help="Store the token in a plain-text file in the config folder (mode 0600) "
            "instead of the system keyring.",
        ),
    ] = False,
) -> None:
    """Store a token for the API of the active profile.

    The token goes to the system keyring (service acp-cli, user name = the API
    origin, such as https://api.example.com) and is only ever sent to that
    origin. On a terminal acp asks for it without echoing; in scripts give it
    on standard input with --with-token. Whether the token can be stored is
    checked before it is asked for; the token itself is checked by the server
    on first use. No option takes the token itself:
    command lines leak into shell history and process lists. Where no keyring
    works (a container, a server without a desktop session), use ACP_TOKEN or
    --insecure-storage.
    """
    from acp_cli import credentials

    env = here.env
    # A token may be stored for a profile that config.toml does not hold yet.
    conf = here.settings(new_profile=True)
    store = credentials.TokenStore.for_env(conf.origin, conf.config_dir, env)
    if here.stdin_is_terminal():
        # Someone is about to type the token: say now if it could not be stored.
        store.check_storage(plain_text=insecure_storage)
    value = credentials.check_token(
        _read_piped_token(here) if with_token else _prompt_for_token(here, conf.origin)
    )
    messages = here.messages
    if insecure_storage:
        messages.warning(
            "storing the token in plain text in "
            f"{store.path} (readable by your user only). "
            "Anyone who can read that file can use the token."
        )
    stored = store.store(value, plain_text=insecure_storage)
    if stored.source is credentials.Source.FILE:
        where = f"in plain text in {stored.path}"
        if stored.removed_other_copy:
            messages.info(f"Removed the older token for {conf.origin} from the system keyring.")
    else:
        where = f"in the system keyring (service {SERVICE})"
        if stored.removed_other_copy:
            messages.info(
                f"Removed the plain-text copy of the token for {conf.origin} from {store.path}."
            )
    # No endpoint can check a token without using it: say what was done, no more.
    messages.info(
        f"Token for {conf.origin} (profile {conf.profile}) stored {where}. It is checked "
        "on first use: the first command that calls the API says if the server refuses it."
    )
    if credentials.environment_token(env):
        messages.warning(
            f"{TOKEN.variable} is set in the environment and takes precedence over the stored "
            "token; unset it to use the token you just stored."
        )


def _read_piped_token(here: Invocation) -> str:
    """All of standard input: the token, whitespace and line breaks around it ignored."""
    if here.stdin_is_terminal():
        here.messages.info("Reading the token from standard input; end it with Ctrl-D.")
    try:
        return here.read_stdin("the token (--with-token)").decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            "Standard input is not UTF-8 text.", hint="Give the token alone, as text."
        ) from None


def _prompt_for_token(here: Invocation, origin: str) -> str:
    """Ask on the terminal without echoing; refuse at once when there is no terminal."""
    if not here.stdin_is_terminal():
        raise UsageError(
            "No terminal to ask for the token on.",
            hint='Give it on standard input, `printf %s "$TOKEN" | acp auth login --with-token`,'
            f" or set {TOKEN.variable}.",
        )
    import getpass

    try:
        return getpass.getpass(f"Token for {origin} (input hidden): ", stream=here.stderr)  # type: ignore[arg-type]
    except EOFError:
        raise UsageError("No token entered.") from None


@command(app, epilog=LOGOUT_EPILOG)
def logout(here: Invocation) -> None:
    """Remove the stored token of the active profile's API origin.

    Removes it from the system keyring and from the plain-text file, and says
    what was removed. A token in ACP_TOKEN is not stored by acp, so it stays in
    use until the variable is unset.
    """
    from acp_cli import credentials

    env = here.env
    conf = here.settings()
    store = credentials.TokenStore.for_env(conf.origin, conf.config_dir, env)
    removed = store.remove()
    messages = here.messages
    if removed.from_keyring:
        messages.info(f"Removed the token for {conf.origin} from the system keyring.")
    if removed.from_file:
        messages.info(f"Removed the plain-text token for {conf.origin} from {store.path}.")
    if not (removed.from_keyring or removed.from_file or removed.keyring_error):
        messages.info(f"No token was stored for {conf.origin} (profile {conf.profile}).")
    if credentials.environment_token(env):
        messages.warning(f"{TOKEN.variable} is set: acp keeps using it until you unset it.")
    if removed.keyring_error is not None:
        messages.warning(
            f"a token stored in the system keyring for {conf.origin} may still be there; "
            "run `acp auth logout` again once the keyring answers."
        )
        raise removed.keyring_error


@command(app, epilog=STATUS_EPILOG)
def status(
    here: Invocation,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the status as a JSON object for scripts.")
    ] = False,
) -> None:
    """Show the profile, the API origin and where its token comes from.

    The token is shown masked. Sources, first found wins: the ACP_TOKEN
    environment variable, the system keyring, the plain-text file written by
    `acp auth login --insecure-storage`. The keyring is not consulted while
    ACP_TOKEN is set.
    """
    from acp_cli import credentials

    env = here.env
    report = StatusReport(profile=here.known_profile())
    try:
        conf = here.settings()
    except ConfigError as exc:
        # Say what is known (an ACP_TOKEN, say), then fail with the reason and the fix.
        report.found = credentials.look_up(None, env, config_file.config_dir(env))
        report.write(json_output, here)
        raise exc from None

    report.api_url, report.origin = conf.api_url, conf.origin
    report.found = credentials.look_up(conf.origin, env, conf.config_dir)
    report.credentials_file = str(credentials.credentials_path(conf.config_dir))
    report.write(json_output, here)
    if report.found.in_file:
        here.messages.warning(
            f"a token for {conf.origin} is stored in plain text in {report.credentials_file}; "
            "`acp auth login` moves it to the system keyring."
        )
    report.found.require(conf.origin)


@dataclass
class StatusReport:
    """What `acp auth status` knows, filled in as far as the configuration allows."""

    profile: str
    api_url: str | None = None
    origin: str | None = None
    found: Lookup | None = None
    credentials_file: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The object `--json` prints; the token masked."""
        token = self.found.token if self.found else None
        return {
            "profile": self.profile,
            "api_url": self.api_url,
            "origin": self.origin,
            "logged_in": token is not None,
            "token_source": None if token is None else token.source.name.lower(),
            "token": None if token is None else token.masked(),
            "plain_text_file": self.credentials_file if self.in_file else None,
            "keyring_error": self.keyring_error,
        }

    @property
    def in_file(self) -> bool:
        """Whether the plain-text file holds a token for the origin."""
        return bool(self.found and self.found.in_file)

    @property
    def keyring_error(self) -> str | None:
        """Why the keyring could not be read, if it was consulted and failed."""
        error = self.found.keyring_error if self.found else None
        return None if error is None else error.message

    def rows(self) -> list[tuple[str, str]]:
        """The lines of the human-readable report."""
        from acp_cli.credentials import Source

        token = self.found.token if self.found else None
        if token is None:
            source = "none"
        elif token.source is Source.ENVIRONMENT:
            source = f"environment variable {TOKEN.variable}"
        elif token.source is Source.KEYRING:
            source = f"system keyring (service {SERVICE}, user {self.origin})"
        else:
            source = f"plain-text file {self.credentials_file}"
        rows = [
            ("Profile", self.profile),
            ("API URL", self.api_url or "none"),
            ("Origin", self.origin or "none"),
            ("Token", "none" if token is None else token.masked()),
            ("Source", source),
        ]
        if self.in_file and token is not None and token.source is not Source.FILE:
            rows.append(("Plain text", f"a token is also stored in {self.credentials_file}"))
        if self.keyring_error and token is not None:
            # Without a token the error itself says this, on stderr.
            rows.append(("Keyring", self.keyring_error))
        return rows

    def headline(self) -> str:
        """One sentence: logged in or not, and where."""
        if self.origin is None:
            return f"No API URL is configured for profile {self.profile}."
        if self.found and self.found.token:
            return f"Logged in to {self.origin}."
        return f"Not logged in to {self.origin}."

    def write(self, json_output: bool, here: Invocation) -> None:
        """Print the report on stdout: JSON, or a two-column table."""
        if json_output:
            write_json(self.as_json(), here.stdout)
            return
        write_table(self.headline(), self.rows(), out=here.stdout, terminal=here.terminal())


@command(app, epilog=PRINT_EPILOG)
def token(here: Invocation) -> None:
    """Print the token of the active profile's API origin, for scripts.

    The one command that prints the token itself: on standard output, alone,
    followed by a newline. Mind where you send it.
    """
    from acp_cli import credentials

    conf = here.settings()
    found = credentials.resolve_token(conf.origin, here.env, conf.config_dir)
    here.stdout.write(found.value + "\n")
