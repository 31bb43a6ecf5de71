"""A small, fair HTTP/1.1 load client: N keep-alive connections over TCP or a Unix socket.

Each connection sends ``GET path`` and reads the answer (status line, headers, ``Content-Length``
body) in a loop for a fixed time; requests/s is the number of complete 200 answers divided by the
time. The same code, the same request bytes and the same event loop drive both sides of the
comparison (through the proxy over TCP, and straight to the session's Unix socket), so only what
sits between the client and the app differs. It is much cheaper per request than httpx, so it
measures the servers rather than itself.
"""

from __future__ import annotations

import asyncio
import socket
import time


async def _open(target: dict):
    # A blocking connect first: a non-blocking connect to a Unix socket whose listen backlog is full
    # fails with EAGAIN, and asyncio then takes the socket for connected when it is not.
    if "unix" in target:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(target["unix"])
        sock.setblocking(False)
        return await asyncio.open_unix_connection(sock=sock)
    sock = socket.create_connection((target["host"], target["port"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return await asyncio.open_connection(sock=sock)


async def _worker(connection, request: bytes, stop_at: float, counts: list, latencies: list) -> None:
    reader, writer = connection
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            else:
                raise RuntimeError(f"no Content-Length in the answer: {head[:200]!r}")
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            counts[0 if status == 200 else 1] += 1
    finally:
        writer.close()


async def run(target: dict, path: str, *, concurrency: int, seconds: float, headers: dict | None = None) -> dict:
    """Load ``path`` with ``concurrency`` connections for ``seconds``; requests/s and latencies."""
    lines = [f"GET {path} HTTP/1.1", "Host: localhost"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    counts, latencies = [0, 0], []
    # Connections are opened one after the other, before the clock starts (socat's UNIX-LISTEN has
    # a listen backlog of 5).
    connections = [await _open(target) for _ in range(concurrency)]
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_worker(c, request, stop_at, counts, latencies) for c in connections))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": counts[0], "errors": counts[1], "seconds": elapsed,
        "requests_per_second": counts[0] / elapsed,
        "latency_p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "latency_p95_ms": latencies[int(len(latencies) * 0.95)] * 1000 if latencies else None,
    }


def load(target: dict, path: str, **kwargs) -> dict:
    return asyncio.run(run(target, path, **kwargs))
