"""Account test helpers.

- ``new_user(name, role="user", teams={})``: like ``make_user`` but without a password (no slow
  argon2 hashing) for tests that authenticate with API tokens only.
- ``named_token(user, label, **kwargs)``: a token secret with a label (``token_for`` takes no label).
"""

from __future__ import annotations

import pytest

from datalabs.accounts.service import AccountService


@pytest.fixture
def named_token(session_factory):
    def make(user: str, label: str, **kwargs) -> str:
        with session_factory() as session:
            return AccountService(session).create_token(user, name=label, **kwargs).secret

    return make
