"""`Emulator`: the emulator's HTTP front serving from a background thread of this process.

The facade tests use (``with Emulator() as emu: ...``): it owns the state, the
server (`acp_cli.emulator.server`) and the thread, and its helper methods act on
the same state as the ``/_emulator/`` routes (`acp_cli.emulator.control`).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from acp_cli.emulator.faults import Fault
from acp_cli.emulator.recorder import RecordedRequest
from acp_cli.emulator.server import EmulatorHTTPServer
from acp_cli.emulator.state import (
    DEFAULT_MAX_BODY,
    EmulatorConfig,
    EmulatorState,
    loopback_host,
)


class Emulator:
    """An emulator serving on loopback from a background thread; see the package docstring.

    Use it as a context manager (``with Emulator() as emu: ... emu.url``), or
    call `start` and `stop`. The helper methods act on the same state as the
    ``/_emulator/`` routes.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (),
        bindings: Iterable[str] = (),
        db: str | PathLike[str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        quiet: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        log_stream: TextIO | None = None,
    ) -> None:
        """Configure, without starting. Raises ValueError for a non-loopback host."""
        if max_body < 0:
            raise ValueError("max_body must not be negative")
        self._host = loopback_host(host)
        self._port = port
        self.config = EmulatorConfig(
            tokens=frozenset(tokens),
            bindings=frozenset(bindings),
            max_body=max_body,
            db=None if db is None else Path(db),
        )
        self._quiet = quiet
        self._log_stream = log_stream
        self._log_lock = threading.Lock()
        self._state: EmulatorState | None = None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle --------------------------------------------------------

    def start(self) -> Emulator:
        """Open the store, bind the port and serve in a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        state = EmulatorState(self.config)
        try:
            server = EmulatorHTTPServer(
                (self._host, self._port), state, None if self._quiet else self.log
            )
        except BaseException:
            state.close()
            raise
        self._state, self._server = state, server
        self._thread = threading.Thread(
            target=server.serve_forever,
            name=f"acp-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and close the store. Safe to call twice."""
        server, thread, state = self._server, self._thread, self._state
        if server is None or thread is None or state is None:
            return
        server.stopping.set()
        # shutdown() waits for serve_forever() to notice, which it only does when
        # select() returns; a connection to ourselves makes that happen at once,
        # so stopping takes milliseconds, not a poll interval.
        shutter = threading.Thread(target=server.shutdown, name="acp-emulator-stop")
        shutter.start()
        while shutter.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((self._host, server.server_port), timeout=0.5).close()
            shutter.join(0.01)
        server.close_connections()
        server.server_close()
        thread.join()
        state.close()
        self._server = self._thread = self._state = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the emulator listens on (the real one when started with port 0)."""
        return self._running_server().server_port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``, without a trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    # --- controls (the same operations as the /_emulator/ routes) ----------

    def queue_fault(self, **fields: Any) -> None:
        """Queue a fault for the next API request, from snake_case keywords.

        Example: ``emu.queue_fault(status=503, retry_after=2, times=3)``. See
        `acp_cli.emulator.faults` for the fields. Raises `FaultSpecError`.
        """
        self._running_state().faults.extend(Fault.build(**fields))

    def queue_faults(self, specs: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Queue several faults in order: `Fault` objects or camelCase JSON-style mappings."""
        faults: list[Fault] = []
        for spec in specs:
            faults.extend([spec] if isinstance(spec, Fault) else Fault.from_json(spec))
        self._running_state().faults.extend(faults)

    def faults(self) -> list[dict[str, Any]]:
        """The faults still queued, oldest first, in their JSON form."""
        return [fault.to_json() for fault in self._running_state().faults.pending()]

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        self._running_state().faults.clear()

    def sessions(
        self, binding: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Push sessions as API ``pushSession`` objects, in creation order, optionally filtered."""
        return self._running_state().sessions(binding_id=binding, status=status)

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One push session as an API ``pushSession`` object, or None."""
        session = self._running_state().store.get(session_id)
        return None if session is None else session.to_json()

    def cancel(self, session_id: str) -> dict[str, Any]:
        """Mark a session ``cancelled`` and return it. Raises LookupError when it does not exist."""
        session = self._running_state().store.cancel(session_id)
        if session is None:
            raise LookupError(f"push session {session_id!r} was not found")
        return session.to_json()

    def requests(self) -> list[RecordedRequest]:
        """The API requests received (not the controls), oldest first."""
        return self._running_state().requests.entries()

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._running_state().requests.clear()

    def reset(self) -> None:
        """Forget every session, queued fault and recorded request."""
        self._running_state().reset()

    def log(self, line: str) -> None:
        """Write ``line`` to the request log (``log_stream``, else stderr) in one
        piece: lines written from several threads never run into each other."""
        stream = self._log_stream or sys.stderr
        with self._log_lock, contextlib.suppress(OSError, ValueError):
            stream.write(line + "\n")
            stream.flush()

    # --- internals ---------------------------------------------------------

    def _running_server(self) -> EmulatorHTTPServer:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use it in a with")
        return self._server

    def _running_state(self) -> EmulatorState:
        if self._state is None:
            raise RuntimeError("the emulator is not running; call start() or use it in a with")
        return self._state
