"""The proxy's HTTP/1.1 client to a session: keep-alive connections, bytes relayed as they come.

Hand-written because it is the hot path (bench/sessions): a general client (httpx) spent
milliseconds per request where this spends tens of microseconds. It writes the request head
itself, streams the body, parses the response with httptools (the C parser uvicorn uses) and
hands each piece of the body to the ASGI ``send`` at once, in reads of up to 1 MiB.
"""

from __future__ import annotations

import asyncio

import httptools

READ_SIZE = 1 << 20
IDLE_CONNECTIONS = 32


class UpstreamError(Exception):
    """The session did not answer (refused, closed before a response, or spoke no HTTP)."""


class _Response:
    """httptools callbacks: collect the head, queue body pieces."""

    __slots__ = ("headers", "chunks", "head_done", "complete", "keep_alive", "parser")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.parser = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # llhttp answers this only inside the callback


class UpstreamPool:
    """Idle keep-alive connections to one session's address."""

    def __init__(self, *, unix_socket: str | None = None, host: str | None = None, port: int | None = None) -> None:
        self.unix_socket, self.host, self.port = unix_socket, host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self.unix_socket:
                return await asyncio.open_unix_connection(self.unix_socket, limit=READ_SIZE)
            return await asyncio.open_connection(self.host, self.port, limit=READ_SIZE)
        except OSError as error:
            raise UpstreamError(f"cannot connect: {error}") from error

    def _take(self):
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def _give_back(self, connection) -> None:
        if len(self.idle) < IDLE_CONNECTIONS:
            self.idle.append(connection)
        else:
            connection[1].close()

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()

    async def forward(self, method: str, target: str, headers: list[tuple[bytes, bytes]], body, send,
                      *, chunked_body: bool = False) -> None:
        """Send one request and relay the response to ASGI ``send``. ``body``: async iterator or None."""
        head = b"".join([method.encode("latin-1"), b" ", target.encode("latin-1"), b" HTTP/1.1\r\n",
                         *[name + b": " + value + b"\r\n" for name, value in headers], b"\r\n"])
        reused = self._take()
        connection = reused or await self._open()
        try:
            started = await self._exchange(connection, head, body, send, method == "HEAD", chunked_body)
        except UpstreamError:
            connection[1].close()
            if reused is None or body is not None:
                raise
            # a kept-alive connection the app had closed meanwhile: the request never reached it
            connection = await self._open()
            started = await self._exchange(connection, head, None, send, method == "HEAD", chunked_body)
        if started:
            self._give_back(connection)
        else:
            connection[1].close()

    async def _exchange(self, connection, head: bytes, body, send, head_only: bool, chunked_body: bool) -> bool:
        """Returns True when the connection may be used again."""
        reader, writer = connection
        try:
            writer.write(head)
            if body is not None:
                async for piece in body:
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked_body else piece)
                    await writer.drain()
                if chunked_body:
                    writer.write(b"0\r\n\r\n")
            await writer.drain()
        except OSError as error:
            raise UpstreamError(f"sending failed: {error}") from error
        response = _Response()
        parser = response.parser = httptools.HttpResponseParser(response)
        started = False
        while True:
            try:
                data = await reader.read(READ_SIZE)
            except OSError as error:
                data = b""
                if not started:
                    raise UpstreamError(f"reading failed: {error}") from error
            if not data:
                if not started:
                    raise UpstreamError("the session closed the connection without answering")
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return False  # body delimited by the end of the connection, or cut short
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as error:
                if not started:
                    raise UpstreamError(f"not an HTTP response: {error}") from error
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return False
            if response.head_done and not started:
                started = True
                await send({"type": "http.response.start", "status": parser.get_status_code(),
                            "headers": [(k, v) for k, v in response.headers if k.lower() not in _DROPPED]})
                if head_only:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return False
                length = _content_length(response.headers)
                if length is not None and not response.complete:
                    return await _relay_sized(reader, response, length, send)
            if response.chunks:
                piece = response.chunks[0] if len(response.chunks) == 1 else b"".join(response.chunks)
                response.chunks.clear()
                await send({"type": "http.response.body", "body": piece, "more_body": not response.complete})
                if response.complete:
                    return response.keep_alive
            elif response.complete:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return response.keep_alive


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's length when it is given and not chunked (then bytes can be relayed without parsing)."""
    length = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"transfer-encoding":
            return None
        if lower == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
    return length


async def _relay_sized(reader: asyncio.StreamReader, response: _Response, length: int, send) -> bool:
    """Pass a body of known length straight through: no parser, one copy less per byte."""
    piece = b"".join(response.chunks)
    response.chunks.clear()
    remaining = length - len(piece)
    while remaining > 0:
        if piece:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        piece = await reader.read(min(READ_SIZE, remaining))
        if not piece:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return False  # cut short: the client sees a short body, the connection is not reused
        remaining -= len(piece)
    await send({"type": "http.response.body", "body": piece, "more_body": False})
    connection = [v.lower() for k, v in response.headers if k.lower() == b"connection"]
    return remaining == 0 and b"close" not in connection


_DROPPED = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
            b"trailers", b"transfer-encoding", b"upgrade"}
