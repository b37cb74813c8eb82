"""``acp-emulator``: a local, stateful stand-in for the ACP push-session API (SPEC.md section 7).

It serves ``POST /v1/workspace-bindings/{bindingId}/push-sessions`` on loopback,
keeps sessions in SQLite and recomputes plan signatures with the independent
``rfc8785`` package. Test controls live under ``/_emulator/``.

In-process, for tests::

    from acp_cli.emulator import Emulator

    with Emulator(tokens=["t"], bindings=["wb_1"]) as emu:   # 127.0.0.1, a free port
        emu.url                                   # "http://127.0.0.1:54321"
        emu.queue_fault(status=503, retry_after=2)  # the next API request gets a 503
        emu.queue_fault(drop=True, process=True)  # processed, then closed unanswered
        ...                                       # run `acp` with ACP_API_URL=emu.url
        emu.sessions()                            # [{"id": "ps_...", "status": ...}, ...]
        emu.requests()[-1].body                   # the exact bytes the client sent

``Emulator(*, tokens=(), bindings=(), db=None, max_body=64 MiB, quiet=True,
host="127.0.0.1", port=0, log_stream=None)``: empty ``tokens`` accept any
non-empty bearer token, empty ``bindings`` make every binding exist, ``db`` is
a SQLite file path (None: in memory). Methods: ``start()``, ``stop()``, ``url``,
``port``, ``queue_fault(**fields)``, ``queue_faults([...])``, ``faults()``,
``clear_faults()``, ``sessions(binding=None, status=None)``, ``session(id)``,
``cancel(id)``, ``requests()``, ``clear_requests()``, ``reset()``.

In a pytest suite, the ``acp_emulator`` fixture of the ``acp_cli.testing``
plugin gives each test a fresh one.

Against an emulator in another process (``acp-emulator --port 0`` prints its
URL first on stdout), `EmulatorClient(url)` has the same control methods.

Fault fields (see `acp_cli.emulator.faults`): ``status`` with optional
``retry_after``/``body``/``content_type``/``headers``; ``drop`` (with optional
``process``); ``truncate``; ``reset``; and ``delay`` (seconds) with any of
them or alone; ``times`` repeats the fault.

HTTP controls (JSON in and out, loopback clients only; faults never apply to
them). Each is checked whole before it acts: an unknown query parameter, a
body on a control that takes none (other than ``{}``), a duplicate key or an
invalid fault field is a 400 that changes nothing::

    GET    /_emulator/health                    {"status": "ok", "version": "..."}
    GET    /_emulator/sessions[?binding=&status=]  {"sessions": [pushSession, ...]}
    GET    /_emulator/sessions/{id}             {"pushSession": {...}}       404 if unknown
    POST   /_emulator/sessions/{id}/cancel      {"pushSession": {..., "status": "cancelled"}}
    GET    /_emulator/faults                    {"faults": [fault, ...]}
    POST   /_emulator/faults                    body: a fault, a list, or {"faults": [...]}
    DELETE /_emulator/faults  (or POST /_emulator/faults/clear)   {"faults": []}
    GET    /_emulator/requests                  {"requests": [recorded request, ...]}
    DELETE /_emulator/requests                  {"requests": []}
    POST   /_emulator/reset                     sessions, faults and requests forgotten
"""

from acp_cli.emulator.client import EmulatorClient, EmulatorControlError
from acp_cli.emulator.faults import Fault, FaultSpecError
from acp_cli.emulator.in_process import Emulator
from acp_cli.emulator.recorder import RecordedRequest
from acp_cli.emulator.state import DEFAULT_MAX_BODY

__all__ = [
    "DEFAULT_MAX_BODY",
    "Emulator",
    "EmulatorClient",
    "EmulatorControlError",
    "Fault",
    "FaultSpecError",
    "RecordedRequest",
]
