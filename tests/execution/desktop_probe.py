"""Manual probe for a running datalab-desktop (not collected by pytest).

Checks the index redirect and that /websockify speaks RFB (VNC) over a
WebSocket, against a unix socket bridged to MAIN_PORT inside the sandbox, e.g.
inside: socat UNIX-LISTEN:/run-dl/http.sock,fork TCP:127.0.0.1:$MAIN_PORT
usage:  python tests/execution/desktop_probe.py /tmp/dlrun/http.sock
"""
import asyncio
import sys
import urllib.parse

from websockets.asyncio.client import unix_connect


async def http_get(sock, path):
    r, w = await asyncio.open_unix_connection(sock)
    w.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    await w.drain()
    data = await r.read()
    w.close()
    return data.decode(errors="replace")


async def probe(sock):
    index = await http_get(sock, "/")
    assert "vnc.html?" in index, index
    href = index.split("url=")[1].split('"')[0].replace("&amp;", "&")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(href).query)
    print("index ->", href, "| browser WebSocket path: /" + query["path"][0])
    status = (await http_get(sock, "/vnc.html")).split("\r\n")[0]
    assert status.endswith(" 200 OK"), status
    # The platform proxy strips the public prefix, so inside it is /websockify.
    async with unix_connect(sock, "ws://x/websockify", subprotocols=["binary"]) as ws:
        hello = await asyncio.wait_for(ws.recv(), 10)
        assert hello.startswith(b"RFB 003."), hello
        await ws.send(b"RFB 003.008\n")
        sec = await ws.recv()
        assert 1 in sec[1:], f"no 'None' security type: {sec!r}"
        await ws.send(b"\x01")
        assert await ws.recv() == b"\0\0\0\0", "security handshake failed"
        await ws.send(b"\x01")  # ClientInit, shared
        init = await ws.recv()
        width, height = (int.from_bytes(init[i:i + 2], "big") for i in (0, 2))
        print(f"RFB ok: framebuffer {width}x{height}, desktop {init[24:].decode()!r}")


if __name__ == "__main__":
    asyncio.run(probe(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dlrun/http.sock"))
