"""A tiny app for the session benchmark, standard library only (it runs on the sandbox's python3).

- ``GET /<file>``: the file from the folder given (default: this script's folder), HTTP/1.1 with
  keep-alive, ``Content-Length``, the body sent with ``sendfile``;
- ``GET /echo`` with ``Upgrade: websocket``: a WebSocket (RFC 6455) that sends every message back.

Usage: ``python3 labserver.py PORT [FOLDER]``; it listens on 127.0.0.1 only.
One asyncio loop, one process: the same app serves both sides of the benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import sys
from pathlib import Path

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ROOT = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent).resolve()


async def read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def send_file(writer: asyncio.StreamWriter, path: Path) -> None:
    size = path.stat().st_size
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
                 .encode())
    await writer.drain()
    with path.open("rb") as handle:
        await asyncio.get_running_loop().sendfile(writer.transport, handle)


async def websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict) -> None:
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    await writer.drain()
    while True:
        first, second = await reader.readexactly(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = bytearray(await reader.readexactly(length))
        for i in range(length):
            data[i] ^= mask[i % 4]
        if opcode == 0x8:  # close: answer it and stop
            writer.write(bytes([0x88, len(data[:2])]) + bytes(data[:2]))
            await writer.drain()
            return
        if opcode == 0x9:  # ping -> pong
            opcode = 0xA
        elif opcode == 0xA:
            continue
        if length < 126:
            frame = bytes([0x80 | opcode, length])
        elif length < 65536:
            frame = bytes([0x80 | opcode, 126]) + struct.pack("!H", length)
        else:
            frame = bytes([0x80 | opcode, 127]) + struct.pack("!Q", length)
        writer.write(frame + bytes(data))
        await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request = await read_head(reader)
            if request is None:
                return
            method, target, headers = request
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            path = target.split("?", 1)[0]
            if path == "/echo" and headers.get("upgrade", "").lower() == "websocket":
                await websocket(reader, writer, headers)
                return
            file = (ROOT / path.lstrip("/")).resolve() if path != "/" else ROOT / "index.html"
            if method in ("GET", "HEAD") and file.is_relative_to(ROOT) and file.is_file():
                await send_file(writer, file)
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
                await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    if not (ROOT / "index.html").exists():
        (ROOT / "index.html").write_text("<!doctype html><title>bench</title>ok\n")
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
