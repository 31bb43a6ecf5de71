"""Fixtures of the web UI tests.

- ``web(name=None)``: a new in-process ``httpx.Client`` (own cookie jar) on the app; with a user
  name, logged in through the login form as that user (password ``PASSWORD`` of ``make_user``).
- ``csrf_of(response)``: the login's CSRF token from a page's ``<meta name="csrf-token">``.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import PASSWORD, in_process_client

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response: httpx.Response) -> str:
    match = CSRF_META.search(response.text)
    assert match, "no csrf-token meta tag in the page"
    return match.group(1)


def log_in(http: httpx.Client, name: str, password: str = PASSWORD, next: str = "/") -> httpx.Response:
    form = http.get("/login")
    token = LOGIN_CSRF.search(form.text).group(1)
    return http.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": next})


@pytest.fixture(name="csrf_of")
def csrf_of_fixture():
    return csrf_of


@pytest.fixture
def web(app):
    clients: list[httpx.Client] = []

    def make(name: str | None = None) -> httpx.Client:
        http = in_process_client(app)
        clients.append(http)
        if name is not None:
            response = log_in(http, name)
            assert response.status_code == 303, response.text
        return http

    yield make
    for http in clients:
        http.close()
