"""Streaming file downloads with HTTP Range, ETag and Last-Modified.

Serves one already-opened file descriptor (opened safely by ``Beneath``), so the file that was
checked is the file that is sent. Reads run in worker threads in large chunks; the response
stops as soon as the client goes away. Files are sent as attachments with a sandboxing CSP,
so an uploaded HTML page cannot run scripts on the platform's origin.
"""

from __future__ import annotations

import mimetypes
import os
import re
from email.utils import format_datetime, parsedate_to_datetime
from datetime import UTC, datetime
from urllib.parse import quote

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

CHUNK = 4 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
INLINE_TYPES = {"text/plain", "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
                "application/json", "text/csv"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive) for one satisfiable range; None to send the whole file; "unsatisfiable"."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None  # several ranges or another unit: ignored, as RFC 9110 allows
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, end


class FileDownload(Response):
    """A response that owns ``fd`` and closes it when done."""

    def __init__(self, fd: int, st: os.stat_result, filename: str, headers, *, inline: bool = False) -> None:
        self.status_code = 200
        self.background = None
        self.fd = fd
        self.size = st.st_size
        self.filename = filename
        self.modified = datetime.fromtimestamp(int(st.st_mtime), UTC)
        self.etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        self.request_headers = headers
        media_type, _ = mimetypes.guess_type(filename)
        self.media_type = media_type or "application/octet-stream"
        self.inline = inline and self.media_type in INLINE_TYPES

    def _base_headers(self) -> list[tuple[bytes, bytes]]:
        disposition = "inline" if self.inline else "attachment"
        ascii_name = self.filename.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
        return [
            (b"accept-ranges", b"bytes"),
            (b"etag", self.etag.encode()),
            (b"last-modified", format_datetime(self.modified, usegmt=True).encode()),
            (b"content-disposition",
             f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.filename)}".encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", b"default-src 'none'; sandbox"),
            (b"cache-control", b"private, no-cache"),
        ]

    def _not_modified(self) -> bool:
        match = self.request_headers.get("if-none-match")
        if match is not None:  # weak comparison (RFC 9110 13.1.2): W/"x" matches "x"
            tags = [tag.strip().removeprefix("W/") for tag in match.split(",")]
            return self.etag in tags or match.strip() == "*"
        since = self.request_headers.get("if-modified-since")
        if since:
            try:
                return self.modified <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False

    def _range_applies(self) -> bool:
        if_range = self.request_headers.get("if-range")
        if if_range is None:
            return True
        if if_range.startswith('"') or if_range.startswith("W/"):
            return if_range == self.etag  # strong comparison: a weak tag never matches
        try:
            return self.modified == parsedate_to_datetime(if_range)
        except (TypeError, ValueError):
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(scope, receive, send)
        finally:
            os.close(self.fd)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = self._base_headers()
        if self._not_modified():
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        wanted = parse_range(self.request_headers.get("range"), self.size) if self._range_applies() else None
        if wanted == "unsatisfiable":
            headers.append((b"content-range", f"bytes */{self.size}".encode()))
            headers.append((b"content-length", b"0"))
            await send({"type": "http.response.start", "status": 416, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if wanted is None:
            status, start, end = 200, 0, self.size - 1
        else:
            status, (start, end) = 206, wanted
            headers.append((b"content-range", f"bytes {start}-{end}/{self.size}".encode()))
        length = end - start + 1 if self.size else 0
        headers.append((b"content-type", self.media_type.encode()))
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope.get("method") == "HEAD" or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        async with anyio.create_task_group() as group:
            async def stream() -> None:
                await self._send_bytes(send, start, length)
                group.cancel_scope.cancel()

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(stream)
            group.start_soon(watch_disconnect)

    async def _send_bytes(self, send: Send, offset: int, remaining: int) -> None:
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(os.pread, self.fd, min(CHUNK, remaining), offset)
            if not chunk:  # the file shrank while being sent: end the body early (client sees a short read)
                break
            offset += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if remaining > 0:
            raise OSError("file changed while being sent")
