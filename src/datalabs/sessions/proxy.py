"""The proxy: ``/datalabs/<session id>/...`` forwarded to the session's app, HTTP and WebSocket.

Every request and every WebSocket is checked: only the session's owner passes (anyone else
gets 404, as for a session that does not exist). What the app receives carries no platform
credential: the ``Authorization`` header and the platform's cookies are removed. Bodies are
streamed both ways, never held in memory. WebSockets from another site are refused (Origin
must be this site), so a page elsewhere cannot drive a user's kernel with their cookie.

It sits in front of the FastAPI app as plain ASGI: a proxied request costs one credential check
and one cached lookup, not a trip through the API's dependency machinery.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import websockets
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from datalabs.accounts.service import AccountService
from datalabs.api.deps import LOGIN_COOKIE
from datalabs.catalogue.models import DatalabVersion
from datalabs.errors import DatalabsError
from datalabs.sessions.models import LabSession
from datalabs.sessions.service import SESSION_ID_PREFIX, is_session_id
from datalabs.sessions.spec import app_shape
from datalabs.sessions.upstream import UpstreamError, UpstreamPool
from datalabs.states import RunState

log = logging.getLogger("datalabs.proxy")

PREFIX = "/datalabs/"
SESSION_PATHS = PREFIX + SESSION_ID_PREFIX  # what the app hands to the proxy first
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
REQUEST_DROPPED = HOP_BY_HOP | {"authorization", "cookie"}
WS_DROPPED = {"authorization", "cookie", "host", "origin", "connection", "upgrade", "sec-websocket-key",
              "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol", "content-length"}
_NOT_FORWARDED = {name.encode() for name in REQUEST_DROPPED} - {b"host", b"cookie", b"content-length",
                                                                 b"transfer-encoding"}
ROUTE_CACHE_SECONDS = 5.0
CREDENTIAL_CACHE_SECONDS = 2.0  # a revoked token or ended login stops passing within this time


@dataclass(frozen=True)
class Route:
    owner_id: int
    state: str
    unix_socket: str | None
    host: str | None
    port: int | None
    strip_prefix: bool
    looked_up: float


def split_path(path: str) -> tuple[str, str] | None:
    """``/datalabs/<id>/rest`` -> (id, "/rest"); None when it is not a session path."""
    if not path.startswith(PREFIX + SESSION_ID_PREFIX):
        return None
    session_id, slash, rest = path[len(PREFIX):].partition("/")
    if not is_session_id(session_id):
        return None
    return session_id, slash + rest


def _platform_cookies_removed(cookie: str) -> str:
    kept = [part.strip() for part in cookie.split(";")
            if part.strip() and not part.strip().startswith(("datalabs_", LOGIN_COOKIE))]
    return "; ".join(kept)


class ProxyCache:
    """Routes, credentials and upstream connections per session, shared by the proxy and the supervisor."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.credentials: dict[str, tuple[int | None, float]] = {}  # sha256 of a token or cookie -> user, when
        self.pools: dict[str, UpstreamPool] = {}
        self.retired: list[UpstreamPool] = []

    def forget(self, session_id: str) -> None:
        """Drop what is known of a session (the supervisor calls this, from its thread, on every change)."""
        self.routes.pop(session_id, None)
        pool = self.pools.pop(session_id, None)
        if pool is not None:
            self.retired.append(pool)  # closed by the proxy on its own event loop

    def close_retired(self) -> None:
        while self.retired:
            self.retired.pop().close()


class SessionProxy:
    """ASGI middleware: session paths are proxied, everything else goes to ``app``."""

    def __init__(self, app, *, state_holder) -> None:
        self.app = app
        self.holder = state_holder  # the FastAPI app: settings, session_factory, supervisor live on its state

    @property
    def cache(self) -> ProxyCache:
        return self.holder.state.proxy_cache

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        found = split_path(scope["path"])
        if found is None:
            return await self.app(scope, receive, send)
        session_id, rest = found
        if scope["type"] == "http":
            await self._http(scope, receive, send, session_id, rest)
        else:
            await self._websocket(scope, receive, send, session_id, rest)

    # -- who may pass -----------------------------------------------------------------------------

    def _user_id(self, scope) -> int | None:
        """Who sends this request (token first, then login cookie), looked up at most every 2 s per credential."""
        authorization = cookie = b""
        for name, value in scope["headers"]:
            lower = name.lower()
            if lower == b"authorization":
                authorization = value
            elif lower == b"cookie":
                cookie = value
        key = (authorization, cookie)
        now = time.monotonic()
        known = self.cache.credentials.get(key)
        if known is not None and now - known[1] < CREDENTIAL_CACHE_SECONDS:
            return known[0]
        user_id = self._look_up_user(authorization.decode("latin-1"), cookie_parser(cookie.decode("latin-1")))
        if len(self.cache.credentials) > 10_000:
            self.cache.credentials.clear()
        self.cache.credentials[key] = (user_id, now)
        return user_id

    def _look_up_user(self, header: str, cookies: dict) -> int | None:
        state = self.holder.state
        with state.session_factory() as db:
            accounts = AccountService(db)
            scheme, _, secret = header.partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                try:
                    actor = accounts.actor_for_token(secret.strip())
                except DatalabsError:
                    return None
                # using a datalab runs code as its user: a read-only token (such as the one every session
                # has for the platform API) must not reach it
                return actor.user_id if "write" in actor.scopes else None
            cookie = cookies.get(LOGIN_COOKIE)
            if cookie:
                login = accounts.login_for_cookie(cookie)
                if login is not None:
                    return login.user_id
        return None

    def _route(self, session_id: str) -> Route | None:
        route = self.cache.routes.get(session_id)
        if route is not None and time.monotonic() - route.looked_up < ROUTE_CACHE_SECONDS:
            return route
        with self.holder.state.session_factory() as db:
            session = db.get(LabSession, session_id)
            if session is None:
                self.cache.routes.pop(session_id, None)
                return None
            version = db.get(DatalabVersion, session.version_id) if session.version_id else None
            shape = app_shape(version.runtime if version else {}, session.kind)
            address = session.address or {}
            route = Route(session.user_id, session.state, address.get("unix_socket"), address.get("host"),
                          address.get("port"), shape.strip_prefix, time.monotonic())
        self.cache.routes[session_id] = route
        return route

    def _check(self, scope, session_id: str) -> tuple[Route | None, int | None]:
        user_id = self._user_id(scope)
        route = self._route(session_id)
        if route is None or user_id is None or route.owner_id != user_id:
            return None, user_id
        return route, user_id

    # -- HTTP ---------------------------------------------------------------------------------------

    def _pool(self, session_id: str, route: Route) -> UpstreamPool:
        pool = self.cache.pools.get(session_id)
        if pool is None:
            pool = UpstreamPool(unix_socket=route.unix_socket, host=route.host, port=route.port)
            self.cache.pools[session_id] = pool
        return pool

    async def _http(self, scope, receive, send, session_id: str, rest: str) -> None:
        route, user_id = self._check(scope, session_id)
        if route is None:
            if user_id is None and scope["method"] == "GET" and "text/html" in Headers(scope=scope).get("accept", ""):
                target = f"/login?next={PREFIX}{session_id}{rest}"
                return await RedirectResponse(target, status_code=303)(scope, receive, send)
            return await _not_found(session_id)(scope, receive, send)
        if not rest:
            return await RedirectResponse(f"{PREFIX}{session_id}/", status_code=307)(scope, receive, send)
        if route.state != RunState.RUNNING.value or not (route.unix_socket or route.host):
            return await _not_running(session_id, route.state)(scope, receive, send)
        if self.cache.retired:
            self.cache.close_retired()
        self.holder.state.supervisor.touch(session_id)
        target = _raw_target(scope, session_id, route.strip_prefix)
        query = scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        forwarded, has_length, chunked = _forwarded_headers(scope)
        body = _body(receive) if (has_length or chunked) else None
        try:
            await self._pool(session_id, route).forward(scope["method"], target, forwarded, body, send,
                                                        chunked_body=chunked)
        except UpstreamError as error:
            log.info("proxy to %s failed: %s", session_id, error)
            return await _unreachable(session_id)(scope, receive, send)

    # -- WebSocket ----------------------------------------------------------------------------------

    async def _websocket(self, scope, receive, send, session_id: str, rest: str) -> None:
        socket = WebSocket(scope, receive, send)
        headers = Headers(scope=scope)
        route, _ = self._check(scope, session_id)
        if route is None or route.state != RunState.RUNNING.value or not _same_origin(headers):
            return await socket.close(code=1008)
        self.holder.state.supervisor.touch(session_id)
        path = rest if route.strip_prefix else scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host", "localhost")
        uri = f"ws://{host}{path}" + (f"?{query}" if query else "")
        extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                 if k.decode("latin-1").lower() not in WS_DROPPED]
        cookie = _platform_cookies_removed(headers.get("cookie", ""))
        if cookie:
            extra.append(("Cookie", cookie))
        protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        connect = dict(additional_headers=extra, subprotocols=protocols or None, origin=headers.get("origin"),
                       max_size=None, compression=None, open_timeout=10, ping_interval=None)
        try:
            if route.unix_socket:
                upstream = await websockets.unix_connect(route.unix_socket, uri, **connect)
            else:
                upstream = await websockets.connect(uri.replace(f"ws://{host}", f"ws://{route.host}:{route.port}"),
                                                    **connect)
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as error:
            log.info("WebSocket to %s refused: %s", session_id, error)
            return await socket.close(code=1011)
        await socket.accept(subprotocol=upstream.subprotocol)
        await _relay(socket, upstream, lambda: self.holder.state.supervisor.touch(session_id))


async def _relay(client: WebSocket, upstream, touch) -> None:
    async def client_to_upstream() -> None:
        try:
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    break
                touch()
                data = message.get("bytes")
                await upstream.send(data if data is not None else message.get("text", ""))
        except (WebSocketDisconnect, websockets.ConnectionClosed):
            pass
        finally:
            await upstream.close()

    async def upstream_to_client() -> None:
        code = 1000
        try:
            async for data in upstream:
                if isinstance(data, bytes):
                    await client.send_bytes(data)
                else:
                    await client.send_text(data)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1011
        except (RuntimeError, WebSocketDisconnect):  # the client went away first
            return
        else:
            code = upstream.close_code or 1000
        try:
            await client.close(code=code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000)
        except (RuntimeError, WebSocketDisconnect):  # the client left at the same moment
            pass

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        if task is tasks[0]:
            task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await upstream.close()


def _forwarded_headers(scope) -> tuple[list[tuple[bytes, bytes]], bool, bool]:
    """The request's headers as the app gets them (no platform credential), and how its body is framed."""
    forwarded, has_length, chunked = [], False, False
    for name, value in scope["headers"]:
        lower = name.lower()
        if lower == b"content-length":
            has_length = True
        elif lower == b"transfer-encoding":
            chunked = True
            continue
        elif lower == b"cookie":
            kept = _platform_cookies_removed(value.decode("latin-1"))
            if kept:
                forwarded.append((b"cookie", kept.encode("latin-1")))
            continue
        elif lower in _NOT_FORWARDED:
            continue
        forwarded.append((name, value))
    if chunked:
        forwarded.append((b"transfer-encoding", b"chunked"))
    forwarded.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    return forwarded, has_length, chunked


def _raw_target(scope, session_id: str, strip_prefix: bool) -> str:
    """The path as the client sent it (percent-encoding kept), without our prefix when the app wants that."""
    raw = scope.get("raw_path") or quote(scope["path"]).encode()
    prefix = f"{PREFIX}{session_id}".encode()
    if strip_prefix:
        raw = raw[len(prefix):] if raw.startswith(prefix + b"/") else quote(scope["path"][len(prefix):]).encode()
    return raw.decode("latin-1")


async def _body(receive):
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def _same_origin(headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:  # not a browser: scripts send no Origin, and they need the token or cookie anyway
        return True
    return urlsplit(origin).netloc == headers.get("host")


def _page(status: int, title: str, message: str) -> Response:
    return Response(
        f"<!doctype html><title>{html.escape(title)}</title><main style='font-family:sans-serif;margin:3rem'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p><p><a href='/sessions'>My datalabs</a></p></main>",
        status_code=status, media_type="text/html")


def _not_found(session_id: str) -> Response:
    return _page(404, "Not found", f"There is no session {session_id} of yours.")


def _not_running(session_id: str, state: str) -> Response:
    response = _page(503, "This datalab is not running",
                     f"Session {session_id} is {state}. Its page shows its progress and log.")
    response.headers["Retry-After"] = "2"
    return response


def _unreachable(session_id: str) -> Response:
    return _page(502, "This datalab is not answering", f"Session {session_id} did not answer; see its log.")
