"""Push sessions in SQLite: in memory by default, or in a file that survives a restart.

The reuse rule ("same binding and same signature as a prepared session: reuse
it, else make a new one and supersede the others") is a read-then-write, so two
concurrent identical requests could both miss the read and both insert. Two
things stop that, on purpose not one:

* every prepare runs in a ``BEGIN IMMEDIATE`` transaction, which takes SQLite's
  write lock before the read, so writers are serialized even across processes
  sharing one ``--db`` file;
* a partial UNIQUE index allows one ``prepared`` session per (binding,
  signature), so a bug in the transaction logic fails loudly instead of making
  a duplicate.

One connection serves the whole process, guarded by a lock: an in-memory
database lives and dies with its connection, and SQLite's shared-cache mode
(the other way to share one) answers conflicts with SQLITE_LOCKED, which
``busy_timeout`` does not wait out.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acp_cli.emulator.nesting import deep_recursion

STATUSES = ("prepared", "superseded", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS push_sessions (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    workspace_binding_id TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    device_id            TEXT,
    environment_id       TEXT NOT NULL,
    project_id           TEXT NOT NULL,
    status               TEXT NOT NULL
                         CHECK (status IN ('prepared', 'superseded', 'cancelled')),
    plan_signature       TEXT NOT NULL,
    plan                 TEXT NOT NULL,
    metadata             TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_prepared_session_per_plan
    ON push_sessions (workspace_binding_id, plan_signature)
    WHERE status = 'prepared';
CREATE INDEX IF NOT EXISTS sessions_by_binding
    ON push_sessions (workspace_binding_id, status);
"""

_COLUMNS = (
    "id, workspace_binding_id, user_id, device_id, environment_id, project_id, status,"
    " plan_signature, plan, metadata, created_at, updated_at"
)


@dataclass(frozen=True)
class NewSession:
    """What a prepare request asks to store; the store adds ID, status and times."""

    workspace_binding_id: str
    plan_signature: str
    plan_json: str
    metadata_json: str
    user_id: str
    device_id: str | None
    environment_id: str
    project_id: str


@dataclass(frozen=True)
class PushSession:
    """One stored push session. ``plan_json`` and ``metadata_json`` are JSON texts."""

    id: str
    workspace_binding_id: str
    user_id: str
    device_id: str | None
    environment_id: str
    project_id: str
    status: str
    plan_signature: str
    plan_json: str
    metadata_json: str
    created_at: str
    updated_at: str

    def to_json_text(self) -> str:
        """The API's ``pushSession`` object as JSON text.

        The stored plan text is spliced in rather than parsed and dumped again:
        a plan can be tens of megabytes and is already valid JSON.
        """
        scalars: list[tuple[str, str | None]] = [
            ("id", self.id),
            ("workspaceBindingId", self.workspace_binding_id),
            ("userId", self.user_id),
            ("deviceId", self.device_id),
            ("environmentId", self.environment_id),
            ("projectId", self.project_id),
            ("status", self.status),
            ("planSignature", self.plan_signature),
        ]
        parts = [f"{json.dumps(key)}:{json.dumps(value)}" for key, value in scalars]
        parts.append(f'"plan":{self.plan_json}')
        parts.append(f'"metadata":{self.metadata_json}')
        parts.append(f'"createdAt":{json.dumps(self.created_at)}')
        parts.append(f'"updatedAt":{json.dumps(self.updated_at)}')
        return "{" + ",".join(parts) + "}"

    def to_json(self) -> dict[str, Any]:
        """The API's ``pushSession`` object as Python values."""
        with deep_recursion():
            value: dict[str, Any] = json.loads(self.to_json_text())
        return value


def utc_now() -> str:
    """The current time as ISO 8601 UTC with milliseconds and a ``Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_session_id() -> str:
    """A fresh, unguessable push session ID."""
    return "ps_" + secrets.token_hex(12)


class SessionStore:
    """Push sessions in one SQLite database; every method is safe to call from any thread."""

    def __init__(self, path: str | Path | None = None) -> None:
        """Open (creating if needed) the database at ``path``, or a fresh in-memory one."""
        target = ":memory:" if path is None else str(path)
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves, so the
        # sqlite3 module never opens a deferred transaction behind our back.
        # timeout: how long to wait for another process holding the write lock.
        self._conn = sqlite3.connect(
            target, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database; the store must not be used afterwards."""
        with self._lock:
            self._conn.close()

    def prepare(self, new: NewSession) -> tuple[PushSession, bool]:
        """Reuse the binding's prepared session with this signature, or make a new one.

        Returns the session and whether it was created. A new session supersedes
        the binding's other prepared sessions, in the same transaction.
        """
        with self._lock:
            # A UNIQUE violation can only come from another process that wrote
            # between our attempts; the second attempt then finds its session.
            for attempt in range(2):
                try:
                    return self._prepare_once(new)
                except sqlite3.IntegrityError:
                    if attempt:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _prepare_once(self, new: NewSession) -> tuple[PushSession, bool]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM push_sessions"  # noqa: S608 - constant column list
                " WHERE workspace_binding_id = ? AND plan_signature = ? AND status = 'prepared'",
                (new.workspace_binding_id, new.plan_signature),
            ).fetchone()
            if row is not None:
                conn.execute("COMMIT")
                return PushSession(*row), False
            now = utc_now()
            conn.execute(
                "UPDATE push_sessions SET status = 'superseded', updated_at = ?"
                " WHERE workspace_binding_id = ? AND status = 'prepared'",
                (now, new.workspace_binding_id),
            )
            session = PushSession(
                id=new_session_id(),
                status="prepared",
                created_at=now,
                updated_at=now,
                **asdict(new),
            )
            # PushSession's fields are in the order of _COLUMNS.
            conn.execute(
                f"INSERT INTO push_sessions ({_COLUMNS})"  # noqa: S608 - constant column list
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(session),
            )
            conn.execute("COMMIT")
            return session, True
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def list(
        self, *, workspace_binding_id: str | None = None, status: str | None = None
    ) -> list[PushSession]:
        """Sessions in creation order, optionally only one binding's or one status's."""
        clauses: list[str] = []
        params: list[str] = []
        if workspace_binding_id is not None:
            clauses.append("workspace_binding_id = ?")
            params.append(workspace_binding_id)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM push_sessions{where} ORDER BY seq",  # noqa: S608
                params,
            ).fetchall()
        return [PushSession(*row) for row in rows]

    def get(self, session_id: str) -> PushSession | None:
        """The session with this ID, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM push_sessions WHERE id = ?",  # noqa: S608
                (session_id,),
            ).fetchone()
        return None if row is None else PushSession(*row)

    def cancel(self, session_id: str) -> PushSession | None:
        """Mark a session ``cancelled`` and return it; None when there is no such session.

        Cancelling an already cancelled session changes nothing, not even ``updatedAt``.
        """
        with self._lock:
            self._conn.execute(
                "UPDATE push_sessions SET status = 'cancelled', updated_at = ?"
                " WHERE id = ? AND status != 'cancelled'",
                (utc_now(), session_id),
            )
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM push_sessions WHERE id = ?",  # noqa: S608
                (session_id,),
            ).fetchone()
        return None if row is None else PushSession(*row)

    def reset(self) -> None:
        """Delete every session."""
        with self._lock:
            self._conn.execute("DELETE FROM push_sessions")
