"""What one emulator knows: its settings, its sessions, its queued faults, its request log.

The HTTP front and the in-process `Emulator` helpers both act through one
`EmulatorState`, so a test's ``emu.cancel(...)`` and ``POST
/_emulator/sessions/{id}/cancel`` are the same operation.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp_cli.emulator.endpoint import (
    PrepareRequest,
    environment_id_for_binding,
    metadata_json_text,
    plan_json_text,
    project_id_for_binding,
)
from acp_cli.emulator.faults import FaultQueue
from acp_cli.emulator.recorder import RequestLog
from acp_cli.emulator.store import NewSession, PushSession, SessionStore

DEFAULT_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings fixed at start: accepted tokens and bindings (empty: any), body limit, database."""

    tokens: frozenset[str] = field(default_factory=frozenset)
    bindings: frozenset[str] = field(default_factory=frozenset)
    max_body: int = DEFAULT_MAX_BODY
    db: Path | None = None


class EmulatorState:
    """The live state behind one emulator; every method is thread-safe."""

    def __init__(self, config: EmulatorConfig) -> None:
        """Open the session store named by ``config.db`` (in memory when None)."""
        self.config = config
        self.store = SessionStore(config.db)
        self.faults = FaultQueue()
        self.requests = RequestLog()

    def close(self) -> None:
        """Close the session store."""
        self.store.close()

    def prepare(
        self,
        request: PrepareRequest,
        *,
        binding_id: str,
        user_id: str,
        device_id: str | None,
    ) -> tuple[PushSession, bool]:
        """Reuse or create the binding's prepared session for a validated request."""
        return self.store.prepare(
            NewSession(
                workspace_binding_id=binding_id,
                plan_signature=request.plan_signature,
                plan_json=plan_json_text(request.plan),
                metadata_json=metadata_json_text(request.metadata),
                user_id=user_id,
                device_id=device_id,
                environment_id=environment_id_for_binding(binding_id),
                project_id=project_id_for_binding(binding_id),
            )
        )

    def sessions_json_text(
        self, *, binding_id: str | None = None, status: str | None = None
    ) -> str:
        """``{"sessions": [...]}`` as JSON text, in creation order."""
        sessions = self.store.list(workspace_binding_id=binding_id, status=status)
        return '{"sessions":[' + ",".join(s.to_json_text() for s in sessions) + "]}"

    def sessions(
        self, *, binding_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Sessions as API ``pushSession`` objects, in creation order."""
        return [
            s.to_json() for s in self.store.list(workspace_binding_id=binding_id, status=status)
        ]

    def reset(self) -> None:
        """Forget every session, queued fault and recorded request."""
        self.store.reset()
        self.faults.clear()
        self.requests.clear()


def loopback_host(host: str) -> str:
    """The address to bind for ``host``, which must be loopback; raises ValueError otherwise.

    ``localhost`` means 127.0.0.1, so the printed URL never depends on how the
    machine resolves names.
    """
    if host.lower() == "localhost":
        return "127.0.0.1"
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        raise ValueError(
            f"{host!r} is not an IP address; give a loopback address"
            " such as 127.0.0.1, ::1 or localhost"
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"refusing to listen on {host}: the emulator binds loopback only"
            " (127.0.0.1, ::1 or localhost)"
        )
    return str(address)


def is_loopback_client(address: str) -> bool:
    """Whether a peer address is loopback (IPv4-mapped IPv6 included)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
