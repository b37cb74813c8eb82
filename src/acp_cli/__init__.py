"""acp: the command-line client for the ACP API, and its typed Python API.

::

    from acp_cli import Client, build_plan

    session = Client.from_config().prepare_push_session("wb_123", build_plan("."))

The names below are imported on first use, so ``import acp_cli`` stays cheap
(no httpx, rich, keyring or Typer): the ``acp`` command starts faster for it.

The library's API is what this package exports (``__all__``), plus two
modules for tests: `acp_cli.emulator` (the local ACP API stand-in and its
controls) and `acp_cli.testing` (the pytest plugin and its fixtures). Import
the names from there. Every other module (``acp_cli.cli``, ``client``,
``transport``, ``answers``, ``retry``, ``signature``, ``jcs``, ``credentials``,
``settings``, ``workspace`` and the rest) is internal: it may change or move
in any release.
"""

from __future__ import annotations

__version__ = "0.2.0"

# Not typing.TYPE_CHECKING: importing typing costs the ``acp`` command 14 ms of
# start-up it does not need (mypy knows this spelling too).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from acp_cli.client import (
        Client,
        PreparedPushSession,
        SignedPlan,
        plan_signature,
    )
    from acp_cli.errors import (
        AcpError,
        AuthError,
        ConfigError,
        ExitCode,
        NotFoundError,
        RejectedError,
        UnavailableError,
        UsageError,
        WriteError,
    )
    from acp_cli.plan_diff import PlanDiff, diff_plans
    from acp_cli.retry import RetryPolicy
    from acp_cli.workspace import BuiltPlan, build_plan

__all__ = [
    "AcpError",
    "AuthError",
    "BuiltPlan",
    "Client",
    "ConfigError",
    "ExitCode",
    "NotFoundError",
    "PlanDiff",
    "PreparedPushSession",
    "RejectedError",
    "RetryPolicy",
    "SignedPlan",
    "UnavailableError",
    "UsageError",
    "WriteError",
    "__version__",
    "build_plan",
    "diff_plans",
    "plan_signature",
]

_MODULE_OF = {
    name: module
    for module, names in {
        "acp_cli.client": ("Client", "PreparedPushSession", "SignedPlan", "plan_signature"),
        "acp_cli.errors": (
            "AcpError",
            "AuthError",
            "ConfigError",
            "ExitCode",
            "NotFoundError",
            "RejectedError",
            "UnavailableError",
            "UsageError",
            "WriteError",
        ),
        "acp_cli.plan_diff": ("PlanDiff", "diff_plans"),
        "acp_cli.retry": ("RetryPolicy",),
        "acp_cli.workspace": ("BuiltPlan", "build_plan"),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'acp_cli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
