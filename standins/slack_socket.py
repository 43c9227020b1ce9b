"""Slack's Socket Mode end, for tests: a WebSocket server (RFC 6455, text frames, ping/pong, close) on loopback.

`apps.connections.open` on the Slack stand-in (app-level token only) hands out this server's `ws://` URL.
On connect the server sends Slack's `hello`; `deliver(kind, payload)` sends an envelope
(`{"envelope_id", "type", "payload", "accepts_response_payload"}`) to the newest connection and returns the
app's acknowledgement (`{"envelope_id", "payload"?}`), as Slack waits for it. slack_sdk's builtin client
talks to it unchanged (it uses plain TCP when the port is not 443).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import socketserver
import struct
import threading
from typing import Any

from standins.base import WAIT_CEILING

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.lock = sock, threading.Lock()
        self.acks: dict[str, dict[str, Any]] = {}
        self.acked = threading.Condition()

    def send(self, opcode: int, data: bytes) -> None:
        size = len(data)
        head = bytes([0x80 | opcode]) + (
            bytes([size]) if size < 126 else bytes([126]) + struct.pack("!H", size) if size < 65536
            else bytes([127]) + struct.pack("!Q", size)
        )
        with self.lock:
            self.sock.sendall(head + data)


class SocketModeStandIn:
    """The Socket Mode server; `connections` counts the apps connected now."""

    def __init__(self, app_id: str = "A0CFTOKEN") -> None:
        self.app_id = app_id
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        standin = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                standin._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SocketModeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for connection in self._connections:
                connection.sock.close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"ws://{host}:{port}/link/?ticket={secrets.token_hex(8)}&app_id={self.app_id}"

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def deliver(self, kind: str, payload: dict[str, Any], timeout: float = WAIT_CEILING) -> dict[str, Any]:
        """Send one envelope to the newest connection; the app's ack for it (TimeoutError if none comes)."""
        with self._lock:
            if not self._connections:
                raise ConnectionError("no app is connected over Socket Mode")
            connection = self._connections[-1]
        envelope_id = secrets.token_hex(16)
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind in ("slash_commands", "interactive")}
        connection.send(TEXT, json.dumps(envelope).encode())
        with connection.acked:
            if not connection.acked.wait_for(lambda: envelope_id in connection.acks, timeout):
                raise TimeoutError(f"the app did not acknowledge {kind} within {timeout}s")
            return connection.acks.pop(envelope_id)

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        key = _handshake(reader)
        if key is None:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        connection = _Connection(sock)
        with self._lock:
            self._connections.append(connection)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": self.app_id},
                 "debug_info": {"host": "standin", "approximate_connection_time": 3600}}
        try:
            connection.send(TEXT, json.dumps(hello).encode())
            self._read_frames(reader, connection)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def _read_frames(self, reader: Any, connection: _Connection) -> None:
        while True:
            frame = _read_frame(reader)
            if frame is None:
                return
            opcode, data = frame
            if opcode == PING:
                connection.send(PONG, data)
            elif opcode == CLOSE:
                connection.send(CLOSE, data[:2])
                return
            elif opcode == TEXT:
                message = json.loads(data)
                if isinstance(message, dict) and "envelope_id" in message:
                    with connection.acked:
                        connection.acks[str(message["envelope_id"])] = message
                        connection.acked.notify_all()


def _handshake(reader: Any) -> str | None:
    """Read the upgrade request; its Sec-WebSocket-Key, or None when it is not a WebSocket upgrade."""
    request_line = reader.readline()
    if not request_line.startswith(b"GET "):
        return None
    headers = {}
    while (line := reader.readline().strip()) != b"":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in headers:
        return None
    return headers["sec-websocket-key"]


def _read_frame(reader: Any) -> tuple[int, bytes] | None:
    """One client frame (clients always mask), or None at end of stream."""
    head = reader.read(2)
    if len(head) < 2:
        return None
    opcode, masked, size = head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", reader.read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", reader.read(8))[0]
    mask = reader.read(4) if masked else b"\0\0\0\0"
    data = reader.read(size)
    return opcode, bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
