"""A loopback HTTP server that answers with canned responses, for answers the
emulator never gives (a 2xx that is not JSON, missing fields, redirects)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Canned:
    """One response to give."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    """One request the server saw."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class CannedServer:
    """Answers each request with the next canned response (the last one repeats)."""

    def __init__(self, *responses: Canned) -> None:
        self.responses = list(responses)
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                server.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                canned = (
                    server.responses.pop(0) if len(server.responses) > 1 else server.responses[0]
                )
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[CannedServer]:
        """Serve on a background thread until the block ends."""
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
