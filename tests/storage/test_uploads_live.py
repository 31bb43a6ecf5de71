"""Uploads over real HTTP (uvicorn on loopback): streamed, chunked, refused or cut off midway.
Whatever happens, nothing is left behind: no file at the target, nothing in the uploads folder."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.storage.conftest import leftovers, tree

pytestmark = pytest.mark.live
MB = 1024 * 1024


def connect(live_server) -> socket.socket:
    parts = urlsplit(live_server)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def read_response(sock) -> tuple[int, bytes]:
    """Status and raw bytes of one HTTP response (read until the server closes or the body is complete)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value.strip())
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def alice(new_user, auth):
    new_user("alice")
    return auth("alice")


def test_large_streamed_upload(live_server, alice, workspace, uploads_dir):
    data = os.urandom(12 * MB + 7)

    def body():
        for start in range(0, len(data), 256 * 1024):
            yield data[start:start + 256 * 1024]

    with httpx.Client(timeout=60) as http:
        response = http.put(f"{live_server}/api/v1/content/my_workspace/big.bin", content=body(), headers=alice)
        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(data)
        download = http.get(f"{live_server}/api/v1/content/my_workspace/big.bin", headers=alice)
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(data).digest()
    assert (workspace("alice") / "big.bin").stat().st_size == len(data)
    assert leftovers(uploads_dir) == []


def test_interrupted_upload_leaves_nothing(live_server, alice, workspace, uploads_dir):
    sock = connect(live_server)
    head = (f"PUT /api/v1/content/my_workspace/cut.bin HTTP/1.1\r\nHost: test\r\n"
            f"Authorization: {alice['Authorization']}\r\nContent-Length: {10 * MB}\r\n\r\n").encode()
    sock.sendall(head)
    sock.sendall(os.urandom(MB))
    # the upload is under way: it streams into the hidden uploads folder, never to the target
    assert wait_until(lambda: len(leftovers(uploads_dir)) == 1)
    assert not (workspace("alice") / "cut.bin").exists()
    sock.close()
    assert wait_until(lambda: leftovers(uploads_dir) == [])
    assert tree(workspace("alice")) == {}
    with httpx.Client() as http:  # the server is fine afterwards
        assert http.get(f"{live_server}/api/v1/files/my_workspace", headers=alice).json()["entries"] == []
        assert http.get(f"{live_server}/api/v1/workspaces", headers=alice).json()[0]["used_bytes"] == 0


def test_interrupted_chunked_upload_leaves_nothing(live_server, alice, workspace, uploads_dir):
    sock = connect(live_server)
    sock.sendall((f"PUT /api/v1/content/my_workspace/cut.bin HTTP/1.1\r\nHost: test\r\n"
                  f"Authorization: {alice['Authorization']}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
    for _ in range(20):
        piece = os.urandom(100 * 1024)
        sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    assert wait_until(lambda: len(leftovers(uploads_dir)) == 1)
    sock.close()
    assert wait_until(lambda: leftovers(uploads_dir) == [])
    assert tree(workspace("alice")) == {}


def test_overwrite_cut_off_keeps_the_old_file(live_server, alice, workspace, uploads_dir):
    (workspace("alice") / "keep.txt").write_bytes(b"original")
    sock = connect(live_server)
    sock.sendall((f"PUT /api/v1/content/my_workspace/keep.txt?overwrite=true HTTP/1.1\r\nHost: test\r\n"
                  f"Authorization: {alice['Authorization']}\r\nContent-Length: {5 * MB}\r\n\r\n").encode())
    sock.sendall(b"new" * 100000)
    assert wait_until(lambda: len(leftovers(uploads_dir)) == 1)
    sock.close()
    assert wait_until(lambda: leftovers(uploads_dir) == [])
    assert (workspace("alice") / "keep.txt").read_bytes() == b"original"


def test_body_shorter_than_announced_when_client_half_closes(live_server, alice, workspace, uploads_dir):
    sock = connect(live_server)
    sock.sendall((f"PUT /api/v1/content/my_workspace/short.bin HTTP/1.1\r\nHost: test\r\n"
                  f"Authorization: {alice['Authorization']}\r\nContent-Length: 1000\r\n\r\n").encode() + b"x" * 10)
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(10)
    try:
        sock.recv(65536)
    except OSError:
        pass
    sock.close()
    assert wait_until(lambda: leftovers(uploads_dir) == [])
    assert tree(workspace("alice")) == {}


def test_announced_upload_over_quota_is_refused_before_the_body(live_server, alice, settings, workspace, uploads_dir):
    settings.user_quota = MB
    sock = connect(live_server)
    sock.sendall((f"PUT /api/v1/content/my_workspace/big.bin HTTP/1.1\r\nHost: test\r\n"
                  f"Authorization: {alice['Authorization']}\r\nContent-Length: {50 * MB}\r\n\r\n").encode())
    status, body = read_response(sock)  # answered without sending a single byte of the body
    sock.close()
    assert status == 413
    assert b"quota_exceeded" in body and b"not enough room in my_workspace" in body
    assert tree(workspace("alice")) == {}
    assert wait_until(lambda: leftovers(uploads_dir) == [])


def test_chunked_upload_over_quota_is_refused_over_http(live_server, alice, settings, workspace, uploads_dir):
    settings.user_quota = MB
    sock = connect(live_server)
    sock.sendall((f"PUT /api/v1/content/my_workspace/big.bin HTTP/1.1\r\nHost: test\r\n"
                  f"Authorization: {alice['Authorization']}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
    result: dict = {}

    def reader():
        result["response"] = read_response(sock)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(40):  # 4 MB, far over the 1 MB quota
            piece = b"q" * (100 * 1024)
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may stop reading once it has refused the upload
    thread.join(timeout=30)
    sock.close()
    status, body = result["response"]
    assert status == 413
    assert b"quota_exceeded" in body
    assert tree(workspace("alice")) == {}
    assert wait_until(lambda: leftovers(uploads_dir) == [])


def test_chunked_upload_over_quota_with_httpx(live_server, alice, settings, workspace, uploads_dir):
    settings.user_quota = MB

    def body():
        for _ in range(30):
            yield b"h" * (100 * 1024)

    with httpx.Client(timeout=30) as http:
        try:
            response = http.put(f"{live_server}/api/v1/content/my_workspace/big.bin", content=body(), headers=alice)
        except httpx.TransportError:
            response = None  # the server answered and closed while the client was still sending
        if response is not None:
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "quota_exceeded"
        assert http.get(f"{live_server}/api/v1/health").status_code == 200
    assert tree(workspace("alice")) == {}
    assert wait_until(lambda: leftovers(uploads_dir) == [])


def test_concurrent_uploads_never_exceed_the_quota(live_server, alice, settings, workspace, uploads_dir):
    settings.user_quota = 3 * MB // 2
    socks = [connect(live_server) for _ in range(2)]
    for index, sock in enumerate(socks):
        sock.sendall((f"PUT /api/v1/content/my_workspace/f{index}.bin HTTP/1.1\r\nHost: test\r\n"
                      f"Authorization: {alice['Authorization']}\r\nContent-Length: {MB}\r\n\r\n").encode())
        sock.sendall(b"c" * (MB // 2))
    assert wait_until(lambda: len(leftovers(uploads_dir)) == 2)
    for sock in socks:
        sock.sendall(b"c" * (MB // 2))
    statuses = []
    for sock in socks:
        statuses.append(read_response(sock)[0])
        sock.close()
    assert sorted(statuses) in ([201, 413], [413, 413])
    used = sum(len(v) for v in tree(workspace("alice")).values() if isinstance(v, bytes))
    assert used <= settings.user_quota
    assert wait_until(lambda: leftovers(uploads_dir) == [])


def test_stale_uploads_are_removed_at_start(app, settings, uploads_dir):
    from datalabs.storage.files import FileService

    uploads_dir.mkdir(parents=True, exist_ok=True)
    stale = uploads_dir / ".upload-u-alice-0123456789abcdef"
    fresh = uploads_dir / ".upload-u-alice-fedcba9876543210"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    with app.state.session_factory() as db:
        assert FileService(db, settings).remove_stale_uploads() == 1
    assert leftovers(uploads_dir) == [fresh.name]
