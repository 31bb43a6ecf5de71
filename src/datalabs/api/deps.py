"""Typed dependencies for routers: ``DbSession``, ``AppSettings``, ``Caller``, ``CurrentActor``, ``OptionalActor``.

The caller is found from ``Authorization: Bearer <token>`` first, else from the login cookie.
Token scopes are enforced here (``write`` for any unsafe method). Requests made with the login
cookie that change something must carry the login's CSRF token: the ``X-CSRF-Token`` header
for the API, the ``csrf_token`` form field for web forms.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.accounts.models import LoginSession
from datalabs.accounts.service import AccountService
from datalabs.errors import NotAuthenticated, PermissionDenied
from datalabs.settings import Settings

LOGIN_COOKIE = "datalabs_login"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# POSTs that only read: a TAP query (sync, or an async job of the caller's own); a read-only token may send them
READING_POSTS = ("/tap/sync", "/tap/async")


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbSession = Annotated[Session, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Caller:
    actor: Actor | None
    login: LoginSession | None = None

    @property
    def csrf_token(self) -> str:
        return self.login.csrf_token if self.login else ""

    def check_csrf(self, submitted: str | None) -> None:
        if self.login is None:
            return
        # bytes: compare_digest refuses str with non-ASCII characters (a header may carry any)
        if not submitted or not hmac.compare_digest(submitted.encode(), self.login.csrf_token.encode()):
            raise PermissionDenied(
                "the request lacks this login's CSRF token; reload the page and try again", code="csrf_failed"
            )


def get_caller(request: Request, db: DbSession) -> Caller:
    header = request.headers.get("authorization")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthenticated("send the API token as 'Authorization: Bearer <token>'", code="invalid_token")
        actor = AccountService(db).actor_for_token(secret.strip())
        reads = request.method in SAFE_METHODS or (request.method == "POST"
                                                   and request.url.path.rstrip("/") in READING_POSTS)
        needed = "read" if reads else "write"
        if needed not in actor.scopes:
            raise PermissionDenied(f"this API token lacks the '{needed}' scope", code="insufficient_scope")
        return Caller(actor)
    cookie = request.cookies.get(LOGIN_COOKIE)
    if cookie:
        login = AccountService(db).login_for_cookie(cookie)
        if login is not None:
            caller = Caller(Actor.of(login.user, via="cookie"), login)
            if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
                caller.check_csrf(request.headers.get(CSRF_HEADER))
            return caller
    return Caller(None)


def get_optional_actor(caller: Annotated[Caller, Depends(get_caller)]) -> Actor | None:
    return caller.actor


def get_actor(caller: Annotated[Caller, Depends(get_caller)]) -> Actor:
    if caller.actor is None:
        raise NotAuthenticated("log in or send an API token ('Authorization: Bearer <token>')")
    return caller.actor


CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalActor = Annotated[Actor | None, Depends(get_optional_actor)]
CurrentActor = Annotated[Actor, Depends(get_actor)]
