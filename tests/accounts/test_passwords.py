"""Users, roles and passwords: argon2 hashes, authentication, roles and the names accepted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from datalabs.accounts import secrets
from datalabs.accounts.models import Role, User
from datalabs.accounts.service import AccountService
from datalabs.errors import AlreadyExists, InvalidInput, NotFound
from tests.conftest import PASSWORD


def _user(db, name) -> User:
    db.expire_all()
    return db.scalar(select(User).where(User.name == name))


def test_stored_hash_is_argon2_and_not_the_password(db):
    AccountService(db).create_user("alice", password=PASSWORD)
    stored = _user(db, "alice").password_hash
    assert stored != PASSWORD
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$")
    assert secrets.verify_password(stored, PASSWORD)


def test_two_users_with_the_same_password_get_different_hashes(db):
    service = AccountService(db)
    service.create_user("alice", password=PASSWORD)
    service.create_user("bob", password=PASSWORD)
    assert _user(db, "alice").password_hash != _user(db, "bob").password_hash


def test_authenticate_accepts_the_right_password_only(db):
    service = AccountService(db)
    service.create_user("alice", password=PASSWORD)
    assert service.authenticate("alice", PASSWORD).name == "alice"
    assert service.authenticate("alice", PASSWORD + "x") is None
    assert service.authenticate("alice", "") is None
    assert service.authenticate("alice", PASSWORD.upper()) is None
    assert service.authenticate("nobody", PASSWORD) is None


def test_user_without_password_cannot_log_in_with_any_password(db):
    service = AccountService(db)
    service.create_user("tokenonly")
    assert _user(db, "tokenonly").password_hash is None
    assert service.authenticate("tokenonly", "") is None
    assert service.authenticate("tokenonly", "datalabs-no-such-user") is None  # the dummy hash's password


def test_inactive_user_cannot_log_in(db):
    service = AccountService(db)
    user = service.create_user("alice", password=PASSWORD)
    user.is_active = False
    db.commit()
    assert service.authenticate("alice", PASSWORD) is None


def test_set_password_replaces_the_old_one(db):
    service = AccountService(db)
    service.create_user("alice", password=PASSWORD)
    service.set_password("alice", "another-long-password")
    assert service.authenticate("alice", PASSWORD) is None
    assert service.authenticate("alice", "another-long-password") is not None


def test_outdated_hash_is_upgraded_on_login(db):
    from argon2 import PasswordHasher

    service = AccountService(db)
    service.create_user("alice")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    _user(db, "alice").password_hash = weak
    db.commit()
    assert service.authenticate("alice", PASSWORD) is not None
    upgraded = _user(db, "alice").password_hash
    assert upgraded != weak and not secrets.needs_rehash(upgraded)
    assert secrets.verify_password(upgraded, PASSWORD)


@pytest.mark.parametrize("password", ["", "short", "1234567"])
def test_too_short_password_is_refused_and_no_user_is_made(db, password):
    with pytest.raises(InvalidInput, match="too short"):
        AccountService(db).create_user("alice", password=password)
    assert _user(db, "alice") is None


def test_short_new_password_keeps_the_old_one(db):
    service = AccountService(db)
    service.create_user("alice", password=PASSWORD)
    with pytest.raises(InvalidInput, match="at least 8"):
        service.set_password("alice", "short")
    assert service.authenticate("alice", PASSWORD) is not None


@pytest.mark.parametrize("name", ["Alice", "al ice", "a" * 33, "", "1alice", "-alice", "al/ice", "al.ice", "ålice",
                                  "alice\n", "\nalice", "ali\nce"])
def test_invalid_user_names_are_refused(db, name):
    with pytest.raises(InvalidInput, match="invalid user name"):
        AccountService(db).create_user(name)
    assert AccountService(db).users() == []


@pytest.mark.parametrize("name", ["a", "alice", "a" * 32, "al-ice_2"])
def test_valid_user_names_are_accepted(db, name):
    assert AccountService(db).create_user(name).name == name


def test_duplicate_user_name_is_refused(db):
    service = AccountService(db)
    service.create_user("alice", role="admin")
    with pytest.raises(AlreadyExists, match="already exists"):
        service.create_user("alice")
    assert [(u.name, u.role) for u in service.users()] == [("alice", "admin")]


def test_unknown_role_is_refused(db):
    service = AccountService(db)
    with pytest.raises(InvalidInput, match="unknown role 'superuser'"):
        service.create_user("alice", role="superuser")
    service.create_user("alice")
    with pytest.raises(InvalidInput, match="unknown role"):
        service.set_role("alice", "root")
    assert _user(db, "alice").role == "user"


def test_unknown_user(db):
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        AccountService(db).set_password("ghost", PASSWORD)


def test_roles_are_ordered():
    assert Role.ADMIN.at_least(Role.MODERATOR)
    assert Role.MODERATOR.at_least(Role.DEVELOPER)
    assert Role.DEVELOPER.at_least(Role.USER)
    assert not Role.USER.at_least(Role.DEVELOPER)
    assert not Role.MODERATOR.at_least(Role.ADMIN)


def test_me_reports_the_role(client, make_user, auth):
    make_user("alice", role="developer")
    body = client.get("/api/v1/me", headers=auth("alice")).json()
    assert body["name"] == "alice" and body["role"] == "developer" and body["effective_role"] == "developer"
    assert "password_hash" not in body and "password" not in str(body)
