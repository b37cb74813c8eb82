"""The typed Python API: `Client.prepare_push_session` and the plan signature.

The use case of ``acp push prepare`` lives here, so a build script can do in
Python what the command does, with the same checks, retries and errors::

    from acp_cli import Client

    client = Client.from_config()            # the CLI's settings, token and device ID
    session = client.prepare_push_session("wb_123", "plan.json")
    print(session.id, "new" if session.created else "reused")

Nothing here prints, exits or reads ``sys.argv``; failures are `acp_cli.errors.AcpError`
subclasses. The keyring is consulted only by `Client.from_config`, and only when
the environment has no ``ACP_TOKEN``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypedDict, Union, Unpack

from acp_cli.errors import UsageError
from acp_cli.retry import RetryPolicy, scale_from_env
from acp_cli.settings import file as config_file
from acp_cli.settings import normalize_api_url

if TYPE_CHECKING:
    import httpx

    from acp_cli.answers import PrepareResult
    from acp_cli.request import Request
    from acp_cli.settings import Settings
    from acp_cli.workspace import BuiltPlan

PlanSource = Union[str, "os.PathLike[str]", bytes, IO[bytes], Mapping[str, Any], "BuiltPlan"]
"""A plan: a path (``str`` or path-like, as ``open()`` takes it), its JSON text as bytes,
a binary file object to read it from (to its end), the plan object itself, or the plan
`acp_cli.build_plan` made of a folder."""

Metadata = Mapping[str, Any] | bytes
"""Session metadata: a mapping, or one JSON object's text, sent exactly as written."""

Log = Callable[[str], None]


class NetworkFlags(TypedDict, total=False):
    """The network options of `Client.from_config`, as keywords: each wins over the
    environment and the profile (`acp_cli.settings.NETWORK`, which names them)."""

    timeout: float | None
    connect_timeout: float | None
    deadline: float | None
    ca_bundle: str | os.PathLike[str] | None


@dataclass(frozen=True)
class SignedPlan:
    """A plan checked for a canonical form: the JSON bytes sent and their signature."""

    data: bytes = field(repr=False)
    """The plan's JSON text, sent unchanged inside the request body."""
    signature: str
    """``sha256:`` and the hex SHA-256 of the plan's RFC 8785 form."""


def sign_plan(plan: PlanSource | SignedPlan) -> SignedPlan:
    """Read and check ``plan`` (see `PlanSource`) and compute its signature once.

    A plan without a single canonical form (duplicate keys, NaN, lone
    surrogates, a number beyond a double) is a `UsageError`.
    """
    from acp_cli.signature import canonical_json, canonical_signature, sign_plan_bytes

    if isinstance(plan, SignedPlan):
        return plan
    built = sys.modules.get("acp_cli.workspace.build")  # loaded if a BuiltPlan exists
    if built is not None and isinstance(plan, built.BuiltPlan):
        return SignedPlan(plan.data, plan.signature)
    if isinstance(plan, bytes):
        return SignedPlan(plan, sign_plan_bytes(plan, "the plan"))
    if isinstance(plan, Mapping):
        try:
            data = canonical_json(dict(plan))
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"The plan has no canonical JSON form: {exc}.",
                hint="A plan holds JSON data only: no NaN, infinities or lone surrogates.",
            ) from None
        return SignedPlan(data, canonical_signature(data))  # canonical already: no re-parse
    if isinstance(plan, str | os.PathLike):
        from acp_cli.strict_json import read_file

        path = os.fspath(plan)
        data = read_file(path)
        return SignedPlan(data, sign_plan_bytes(data, path))
    read = getattr(plan, "read", None)
    if callable(read):  # a binary file object
        name = getattr(plan, "name", None)
        data = read()
        return SignedPlan(
            data, sign_plan_bytes(data, name if isinstance(name, str) else "the plan")
        )
    raise TypeError(
        f"a plan is a path, bytes, a binary file or a mapping, not {type(plan).__name__}"
    )


def plan_signature(plan: PlanSource) -> str:
    """The plan signature of ``plan``: ``sha256:`` + hex SHA-256 of its RFC 8785 form.

    The same plan gives the same signature whatever its key order, whitespace or
    escaping, on any machine: it is what lets the server reuse a session.
    """
    return sign_plan(plan).signature


@dataclass(frozen=True)
class PreparedPushSession:
    """The push session the server prepared (``created``) or reused.

    Every field of the session is optional, as in the API reference: a field
    the server left out or sent as null is None.

    A value: two results are equal when every field is, that is for the same
    answer. A reused session's result is not equal to the first one (its
    ``created``, ``http_status`` and ``request_id`` differ): compare ``id`` to
    know whether two results are the same session. A result is hashable, so it
    can be a set member or a dict key: the hash covers every field but the
    mappings ``plan``, ``metadata`` and ``raw``, which ``body`` already
    determines, so equal results hash equal.
    """

    id: str | None
    workspace_binding_id: str | None
    user_id: str | None
    device_id: str | None
    environment_id: str | None
    project_id: str | None
    status: str | None
    """``prepared``, ``superseded`` or ``cancelled``."""
    plan_signature: str | None
    plan: Mapping[str, Any] | None = field(hash=False)
    metadata: Mapping[str, Any] | None = field(hash=False)
    created_at: str | None
    updated_at: str | None
    created: bool
    """True when the session is new (201 or ``created: true``), False when reused (200)."""
    http_status: int
    request_id: str | None
    """The server's ``X-Request-Id``, for support requests."""
    raw: Mapping[str, Any] = field(repr=False, hash=False)
    """The whole answer as the server sent it: ``{"pushSession": {...}, "created": ...}``."""
    body: bytes = field(repr=False)
    """The answer's JSON text as received, but for characters that could act on a
    terminal, written as ``\\uXXXX`` escapes (the same JSON value)."""

    @classmethod
    def from_result(cls, result: PrepareResult) -> PreparedPushSession:
        """The session of a successful answer."""
        session = result.session

        def text(key: str) -> str | None:
            value = session.get(key)
            return value if isinstance(value, str) else None

        def mapping(key: str) -> Mapping[str, Any] | None:
            value = session.get(key)
            return value if isinstance(value, Mapping) else None

        return cls(
            id=text("id"),
            workspace_binding_id=text("workspaceBindingId"),
            user_id=text("userId"),
            device_id=text("deviceId"),
            environment_id=text("environmentId"),
            project_id=text("projectId"),
            status=text("status"),
            plan_signature=text("planSignature"),
            plan=mapping("plan"),
            metadata=mapping("metadata"),
            created_at=text("createdAt"),
            updated_at=text("updatedAt"),
            created=result.created,
            http_status=result.status_code,
            request_id=result.request_id,
            raw=result.answer,
            body=result.raw,
        )


class Client:
    """A client of the ACP API for one API URL and token.

    Build it from explicit values, or with `Client.from_config` from the same
    settings the ``acp`` command uses. Requests are retried under ``retry``
    (`acp_cli.RetryPolicy`: up to 4 attempts within a deadline).
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        device_id: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        transport: httpx.BaseTransport | None = None,
        log: Log | None = None,
        announce: Log | None = None,
    ) -> None:
        """``device_id`` None leaves the ``ACP-Device-Id`` header out; ``log`` receives
        the HTTP exchange (token masked) and ``announce`` one line per retry."""
        from acp_cli.credentials import check_token
        from acp_cli.transport import Sender, Timeouts

        self.api_url = normalize_api_url(api_url)
        self._token = check_token(token)
        self.device_id = device_id
        self._sender = Sender(
            timeouts=Timeouts.of(timeout, connect_timeout),
            policy=retry,
            ca_bundle=None if ca_bundle is None else Path(ca_bundle),
            transport=transport,
            log=log,
            announce=announce,
        )

    def __repr__(self) -> str:
        return f"Client(api_url={self.api_url!r})"

    @property
    def timeout(self) -> float:
        """Seconds an attempt may wait for each read or write (``--timeout``)."""
        return self._sender.timeouts.read

    @property
    def connect_timeout(self) -> float:
        """Seconds an attempt may wait for a connection: at most `timeout`."""
        return self._sender.timeouts.connect

    @property
    def ca_bundle(self) -> Path | None:
        """The PEM file of CA certificates trusted besides the default ones, if any."""
        return self._sender.ca_bundle

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request (the default one when none was given)."""
        return self._sender.policy

    @classmethod
    def from_config(
        cls,
        profile: str | None = None,
        env: Mapping[str, str] | None = None,
        *,
        api_url: str | None = None,
        log: Log | None = None,
        announce: Log | None = None,
        **flags: Unpack[NetworkFlags],
    ) -> Client:
        """A client as ``acp`` would make it: each keyword (a flag) wins over the
        environment (``env``, default ``os.environ``), which wins over the profile in
        config.toml, which wins over the defaults. The token comes from ``ACP_TOKEN``,
        the keyring or the plain-text file; the device ID from the config file."""
        from acp_cli import settings

        env = os.environ if env is None else env
        conf = settings.resolve(profile=profile, api_url=api_url, env=env, flags=flags)
        return cls._from_settings(conf, env, log=log, announce=announce)

    @classmethod
    def _from_settings(
        cls,
        conf: Settings,
        env: Mapping[str, str],
        *,
        log: Log | None = None,
        announce: Log | None = None,
    ) -> Client:
        """A client for settings already resolved (`acp_cli.settings.resolve`): the token
        from ``ACP_TOKEN``, the keyring or the plain-text file; the device ID from the
        config file as that resolution read it (`acp_cli.settings.Settings.file`).

        Internal, as `acp_cli.settings` is: for `from_config` and the ``acp`` command
        (`acp_cli.cli.context.Invocation.client`), which reads config.toml once a run."""
        from acp_cli import credentials

        token = credentials.resolve_token(conf.origin, env, conf.config_dir)
        return cls(
            conf.api_url,
            token.value,
            device_id=config_file.device_id(conf.config_dir, env, conf.file),
            timeout=conf.timeout,
            connect_timeout=conf.connect_timeout,
            retry=RetryPolicy(deadline=conf.deadline, scale=scale_from_env(env)),
            ca_bundle=conf.ca_bundle,
            log=log,
            announce=announce,
        )

    def push_request(
        self,
        binding_id: str,
        plan: PlanSource | SignedPlan,
        *,
        metadata: Metadata | None = None,
    ) -> Request:
        """The Prepare workspace push session request, built and checked but not sent
        (what ``--dry-run`` shows)."""
        from acp_cli.request import prepare_request, request_body

        signed = sign_plan(plan)
        if isinstance(metadata, bytes):
            from acp_cli.strict_json import parse_object

            parse_object(metadata, "the metadata")  # one JSON object, spliced in as written
        return prepare_request(
            api_url=self.api_url,
            binding_id=binding_id,
            token=self._token,
            device_id=self.device_id,
            body=request_body(signed.signature, signed.data, metadata),
        )

    def prepare_push_session(
        self,
        binding_id: str,
        plan: PlanSource | SignedPlan,
        *,
        metadata: Metadata | None = None,
    ) -> PreparedPushSession:
        """Prepare a push session of ``plan`` for the workspace binding ``binding_id``.

        The server answers with a new session (``created`` True, 201) or reuses the
        prepared session with the same plan signature (False, 200); the metadata of a
        reused session stays what the first request sent. ``metadata`` None leaves the
        field out of the body. Failed attempts are retried when that is safe.
        """
        request = self.push_request(binding_id, plan, metadata=metadata)
        result = self._sender.send(request, binding_id=binding_id)
        return PreparedPushSession.from_result(result)
