"""The load client: pre-built HTTP requests over C keep-alive sockets, one thread each, in a process of its own.

    python -m bench.load REQUESTS_FILE CONCURRENCY HOST PORT     # prints one JSON object on stdout

REQUESTS_FILE is a pickled list of raw HTTP/1.1 requests (bytes). Every connection is open before the clock
starts; the threads then take requests in order until all are sent. Output: {"ms": [...], "errors": [...]}, the
time from the first byte sent to the last byte of the response, per request. Kept to sockets and a lock so the
client costs the shared CPUs as little as a Python client can.
"""

from __future__ import annotations

import json
import pickle
import socket
import sys
import threading
import time
from pathlib import Path

TIMEOUT = 10.0


def read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one response (Content-Length or chunked); return its status code."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    body = bytearray(rest)
    if headers.get(b"transfer-encoding") == b"chunked":
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection mid-body")
            body += chunk
        buffer[:] = b""
        return status
    length = int(headers.get(b"content-length", b"0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-body")
        body += chunk
    buffer[:] = body[length:]
    return status


def run(requests: list[bytes], concurrency: int, host: str, port: int) -> dict[str, list]:
    times: list[float | None] = [None] * len(requests)
    errors: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(len(requests)))
    barrier = threading.Barrier(concurrency)

    def client() -> None:
        sock = socket.create_connection((host, port), timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        barrier.wait()
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    sock.sendall(requests[index])
                    status = read_response(sock, buffer)
                except OSError as exc:
                    errors.append(f"request {index}: {type(exc).__name__}")
                    sock.close()
                    sock = socket.create_connection((host, port), timeout=TIMEOUT)
                    buffer.clear()
                    continue
                times[index] = (time.perf_counter() - started) * 1000
                if status != 200:
                    errors.append(f"request {index}: HTTP {status}")
        finally:
            sock.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"ms": [t for t in times if t is not None], "errors": errors}


def main() -> None:
    path, concurrency, host, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    requests = pickle.loads(Path(path).read_bytes())  # noqa: S301 - a file this benchmark wrote itself
    sys.setswitchinterval(0.001)  # hand the GIL over quickly: a waiting reader should not add 5 ms
    print(json.dumps(run(requests, min(concurrency, len(requests)), host, port)))


if __name__ == "__main__":
    main()
