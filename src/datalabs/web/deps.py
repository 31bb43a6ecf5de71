"""What every web route shares: the caller of a page, the login rule, and errors of form posts.

Domain errors raised by a GET page become error pages (or a redirect to the login page) through
the app's error handlers. Form posts are answered here instead, because those handlers answer
non-GET requests with JSON: ``form_action`` turns a domain error into the page the form came
from, showing the message, with the status code of the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.api.deps import Caller, get_caller
from datalabs.errors import DatalabsError, NotAuthenticated, status_for
from datalabs.web.pages import render_error_page


def page_caller(request: Request, caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    request.state.caller = caller
    return caller


PageCaller = Annotated[Caller, Depends(page_caller)]


def logged_in(caller: Caller) -> Actor:
    if caller.actor is None:
        raise NotAuthenticated("log in to see this page")
    return caller.actor


def visitor_allowed(request: Request, caller: Caller) -> None:
    """Anonymous visitors may read public volumes only when ``anonymous_browse`` is on (as in the API)."""
    if caller.actor is None and not request.app.state.settings.anonymous_browse:
        raise NotAuthenticated("log in to browse archive volumes")


def login_redirect(target: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def form_action(request: Request, back: str, action: Callable[[], Response],
                page: Callable[[str, int], Response], db: Session | None = None) -> Response:
    """Run a form post's ``action``; on a domain error show ``page(message, status)`` instead.

    ``back`` is the page the form belongs to (where to return after logging in). When the page
    itself cannot be shown any more (say, the team is no longer visible), an error page is.
    """
    try:
        return action()
    except DatalabsError as exc:
        status = status_for(exc)
        if status == 401:
            return login_redirect(back)
        if db is not None:
            db.rollback()  # services change nothing on error; this drops anything half-loaded
        try:
            return page(exc.message, status)
        except DatalabsError as again:
            again_status = status_for(again)
            if again_status == 401:
                return login_redirect(back)
            return render_error_page(request, again_status, again.message, again.code)
