"""Loopback servers that misbehave on purpose, at the socket level, for the reliability tests.

The emulator injects HTTP faults; these produce what it cannot: a server that
never answers, a reset in the middle of the request body, TLS with a private
CA, and a forwarding/CONNECT proxy. Each runs on a background thread, counts
the connections it accepted, and keeps what it received.

    with RawServer(never_answer) as srv:       # srv.url, srv.connections
        ...

A behaviour is a function ``(conn, server)`` that does one scripted thing with
one accepted connection; a server given several uses them in turn, the last
one for every further connection.
"""

from __future__ import annotations

import datetime as dt
import selectors
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Behaviour = Callable[[socket.socket, "RawServer"], None]

HEAD_LIMIT = 64 * 1024


@dataclass
class Received:
    """One request as a raw server read it (possibly cut short)."""

    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        """``POST /path HTTP/1.1``."""
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")


class RawServer:
    """A loopback TCP (or TLS) server that runs a scripted behaviour per connection."""

    def __init__(self, *behaviours: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        assert behaviours, "give at least one behaviour"
        self.behaviours = list(behaviours)
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.connections = 0
        """TCP connections accepted (a TLS handshake may still have failed)."""
        self.handshake_errors: list[str] = []
        self.received: list[Received] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.listener.close()
        with self._lock:
            for conn in self._open:
                with suppress(OSError):
                    conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                behaviour = self.behaviours[min(self.connections, len(self.behaviours) - 1)]
                self.connections += 1
                self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, behaviour), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket, behaviour: Behaviour) -> None:
        conn.settimeout(10)
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                self.handshake_errors.append(str(exc))
                with suppress(OSError):
                    conn.close()
                return
            with self._lock:
                self._open.append(conn)
        with suppress(OSError):
            behaviour(conn, self)
        with suppress(OSError):
            conn.close()


# --- reading and answering ---------------------------------------------------------------


def read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read up to the end of the request head; return the head and the body bytes read so far."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
        assert b"\r\n\r\n" in data or len(data) < HEAD_LIMIT, "request head too large"
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def content_length(head: bytes) -> int:
    """The Content-Length of a request head (0 when absent)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def read_request(conn: socket.socket, server: RawServer) -> Received:
    """Read one whole request and record it."""
    head, body = read_head(conn)
    wanted = content_length(head)
    while len(body) < wanted:
        chunk = conn.recv(min(1 << 20, wanted - len(body)))
        if not chunk:
            break
        body += chunk
    received = Received(head, body)
    server.received.append(received)
    return received


def response_bytes(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    lines = [f"HTTP/1.1 {status} Status", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reset(conn: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


# --- behaviours --------------------------------------------------------------------------


def never_answer(conn: socket.socket, server: RawServer) -> None:
    """Read the request, then say nothing until the server stops."""
    read_request(conn, server)
    server.stopping.wait(30)


def close_without_answer(conn: socket.socket, server: RawServer) -> None:
    """Read the request, then close the connection without a word."""
    read_request(conn, server)


def reset_mid_body(after: int) -> Behaviour:
    """Read the head and ``after`` bytes of the body, then reset the connection."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        head, body = read_head(conn)
        while len(body) < after:
            chunk = conn.recv(after - len(body))
            if not chunk:
                break
            body += chunk
        server.received.append(Received(head, body))
        reset(conn)

    return behaviour


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    """Read the request, then send a complete answer."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        read_request(conn, server)
        conn.sendall(response_bytes(status, body, headers))

    return behaviour


# --- a proxy -----------------------------------------------------------------------------


@dataclass
class ProxyLog:
    """What a proxy saw."""

    request_lines: list[str] = field(default_factory=list)
    relayed: bytearray = field(default_factory=bytearray)
    """Every byte it passed from the client to the server."""


def proxy(log: ProxyLog) -> Behaviour:
    """An HTTP proxy: CONNECT tunnels, and plain requests in absolute form forwarded."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        head, rest = read_head(conn)
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        log.request_lines.append(line)
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=10)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
                log.relayed += rest
        else:
            assert target.startswith("http://"), f"not absolute form: {line}"
            host_port, _, path = target[len("http://") :].partition("/")
            host, _, port = host_port.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=10)
            forwarded = head.replace(target.encode(), b"/" + path.encode(), 1) + b"\r\n\r\n"
            upstream.sendall(forwarded + rest)
            log.relayed += forwarded + rest
        _relay(conn, upstream, log)

    return behaviour


def _relay(client: socket.socket, upstream: socket.socket, log: ProxyLog) -> None:
    """Pass bytes both ways until either side closes."""
    with selectors.DefaultSelector() as selector, upstream:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            for key, _ in selector.select(timeout=10):
                source: Any = key.fileobj
                data = source.recv(65536)
                if not data:
                    return
                if source is client:
                    log.relayed += data
                key.data.sendall(data)


# --- TLS with a private CA ----------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A private CA and a server certificate it signed for 127.0.0.1 and localhost."""

    ca: Path
    """The CA certificate (PEM): what a client must trust."""
    chain: Path
    """The server certificate (PEM)."""
    key: Path
    """The server's private key (PEM)."""

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the server certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.chain, self.key)
        return context


def make_certificates(folder: Path) -> Certificates:
    """Generate a CA and a server certificate with ``cryptography``, written to ``folder``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acp test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
