"""The proxy's HTTP/1.1 client to a session: keep-alive connections, bytes relayed as they come.

Hand-written because it is the hot path (bench/sessions): a general client (httpx) spent
milliseconds per request where this spends tens of microseconds, and a stream reader copies
every byte twice more than needed. Here the pieces the event loop reads from the session's
socket are handed to the ASGI ``send`` as they are (bodies of known length are not even
parsed); the response head is parsed with httptools (the C parser uvicorn uses).
"""

from __future__ import annotations

import asyncio
from collections import deque

import httptools

IDLE_CONNECTIONS = 32
PAUSE_ABOVE = 4 << 20  # stop reading from the session while this much waits for a slow client
RESUME_BELOW = 1 << 20


class UpstreamError(Exception):
    """The session did not answer (refused, closed before a response, or spoke no HTTP)."""


class _Link(asyncio.Protocol):
    """One connection to the session: received pieces queued as the loop made them, write with drain."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pieces: deque[bytes] = deque()
        self.queued = 0
        self.closed = False
        self.reading_paused = False
        self.writing_paused = False
        self._readable: asyncio.Future | None = None
        self._writable: asyncio.Future | None = None

    # protocol callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.pieces.append(data)
        self.queued += len(data)
        if self.queued > PAUSE_ABOVE and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake_reader()
        return False

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._wake_reader()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    # used by the proxy
    @property
    def usable(self) -> bool:
        return not self.closed and not self.pieces and self.transport is not None and not self.transport.is_closing()

    async def read(self) -> bytes:
        """The next piece received, b"" once the session closed the connection."""
        while not self.pieces:
            if self.closed:
                return b""
            self._readable = asyncio.get_running_loop().create_future()
            await self._readable
        piece = self.pieces.popleft()
        self.queued -= len(piece)
        if self.reading_paused and self.queued < RESUME_BELOW:
            self.reading_paused = False
            self.transport.resume_reading()
        return piece

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the session closed the connection")
        self.transport.write(data)
        if self.writing_paused:
            self._writable = asyncio.get_running_loop().create_future()
            await self._writable

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


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
        self.idle: list[_Link] = []

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        try:
            if self.unix_socket:
                _, link = await loop.create_unix_connection(_Link, self.unix_socket)
            else:
                _, link = await loop.create_connection(_Link, self.host, self.port)
        except OSError as error:
            raise UpstreamError(f"cannot connect: {error}") from error
        return link

    def _take(self) -> _Link | None:
        while self.idle:
            link = self.idle.pop()
            if link.usable:
                return link
            link.close()
        return None

    def _give_back(self, link: _Link) -> None:
        if len(self.idle) < IDLE_CONNECTIONS and link.usable:
            self.idle.append(link)
        else:
            link.close()

    def close(self) -> None:
        for link in self.idle:
            link.close()
        self.idle.clear()

    async def forward(self, method: str, target: str, headers: list[tuple[bytes, bytes]], body, send,
                      *, chunked_body: bool = False) -> None:
        """Send one request and relay the response to ASGI ``send``. ``body``: async iterator or None."""
        head = b"".join([method.encode("latin-1"), b" ", target.encode("latin-1"), b" HTTP/1.1\r\n",
                         *[name + b": " + value + b"\r\n" for name, value in headers], b"\r\n"])
        reused = self._take()
        link = reused or await self._open()
        try:
            reusable = await self._exchange(link, head, body, send, method == "HEAD", chunked_body)
        except UpstreamError:
            link.close()
            if reused is None or body is not None:
                raise
            # a kept-alive connection the app had closed meanwhile: the request never reached it
            link = await self._open()
            reusable = await self._exchange(link, head, None, send, method == "HEAD", chunked_body)
        if reusable:
            self._give_back(link)
        else:
            link.close()

    async def _exchange(self, link: _Link, head: bytes, body, send, head_only: bool, chunked_body: bool) -> bool:
        """Returns True when the connection may be used again."""
        try:
            await link.write(head)
            if body is not None:
                async for piece in body:
                    await link.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked_body else piece)
                if chunked_body:
                    await link.write(b"0\r\n\r\n")
        except OSError as error:
            raise UpstreamError(f"sending failed: {error}") from error
        response = _Response()
        parser = response.parser = httptools.HttpResponseParser(response)
        started = False
        while True:
            data = await link.read()
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
                    return await _relay_sized(link, response, length, send)
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
    """The body's length when it is given and not chunked (then the bytes pass without parsing)."""
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


async def _relay_sized(link: _Link, response: _Response, length: int, send) -> bool:
    """Pass a body of known length straight through, piece by piece as the loop read them."""
    piece = b"".join(response.chunks)
    response.chunks.clear()
    remaining = length - len(piece)
    while remaining > 0:
        if piece:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        piece = await link.read()
        if not piece:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return False  # cut short: the client sees a short body, the connection is not reused
        if len(piece) > remaining:  # never the case for a well-behaved app; keep the stream in step
            piece = piece[:remaining]
            link.closed = True
        remaining -= len(piece)
    await send({"type": "http.response.body", "body": piece, "more_body": False})
    connection = [v.lower() for k, v in response.headers if k.lower() == b"connection"]
    return b"close" not in connection


_DROPPED = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
            b"trailers", b"transfer-encoding", b"upgrade"}
