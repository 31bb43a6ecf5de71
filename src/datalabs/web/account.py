"""The account page: the user's profile and personal API tokens (plain HTML forms, no JavaScript needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from datalabs.accounts.actor import SCOPES, Actor
from datalabs.accounts.models import ApiToken
from datalabs.accounts.service import AccountService, NewToken
from datalabs.api.deps import Caller, DbSession
from datalabs.db.base import utcnow
from datalabs.errors import InvalidInput
from datalabs.web.deps import PageCaller, form_action, logged_in
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)


def token_state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def offered_scopes(actor: Actor) -> dict[str, str]:
    """The scopes the creation form offers: 'admin' to platform admins only."""
    return {name: text for name, text in SCOPES.items() if name != "admin" or actor.is_admin}


def parse_expiry(value: str) -> datetime | None:
    """The form's expiry date (YYYY-MM-DD): the token works until the end of that day, UTC."""
    value = value.strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"invalid expiry date {value!r}: write it as YYYY-MM-DD", field="expires") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def account_page(request: Request, caller: Caller, db, *, new: NewToken | None = None, error: str | None = None,
                 form: dict | None = None, status_code: int = 200):
    actor = logged_in(caller)
    service = AccountService(db)
    user = service.user(actor.name)
    now = utcnow()
    tokens = sorted(service.tokens(actor.name), key=lambda t: t.created_at, reverse=True)
    response = render(request, "account.html", {
        "user": user,
        "teams": sorted(actor.teams.items()),
        "tokens": [(t, token_state(t, now)) for t in tokens],
        "scopes": offered_scopes(actor),
        "new": new,
        "error": error,
        "form": form or {"name": "", "scopes": ["read", "write"], "expires": ""},
        "today": now.date().isoformat(),
    }, status_code=status_code)
    if new is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@router.get("/account")
def account(request: Request, caller: PageCaller, db: DbSession):
    return account_page(request, caller, db)


@router.post("/account/tokens")
def create_token(request: Request, caller: PageCaller, db: DbSession,
                 csrf_token: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                 scopes: Annotated[list[str], Form()] = [], expires: Annotated[str, Form()] = ""):  # noqa: B006
    form = {"name": name, "scopes": scopes, "expires": expires}

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        if not scopes:
            raise InvalidInput("choose at least one scope", field="scopes")
        if "admin" in scopes and "admin" not in offered_scopes(actor):
            raise InvalidInput("only platform admins may give a token the 'admin' scope", field="scopes")
        new = AccountService(db).create_token(actor.name, name=name.strip(), scopes=scopes,
                                              expires_at=parse_expiry(expires), actor=actor)
        return account_page(request, caller, db, new=new, status_code=201)

    def page(message: str, status: int):
        return account_page(request, caller, db, error=message, form=form, status_code=status)

    return form_action(request, "/account", action, page, db)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: int, request: Request, caller: PageCaller, db: DbSession,
                 csrf_token: Annotated[str, Form()] = ""):
    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        AccountService(db).revoke_token(actor.name, token_id)
        return RedirectResponse("/account#tokens", status_code=303)

    def page(message: str, status: int):
        return account_page(request, caller, db, error=message, status_code=status)

    return form_action(request, "/account", action, page, db)
