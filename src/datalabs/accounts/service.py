"""Account rules: users and roles, teams and their admins, API tokens, web logins.

Every method that changes something commits its own unit of work; on error nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datalabs.accounts import secrets
from datalabs.accounts.actor import DEFAULT_SCOPES, SCOPES, Actor
from datalabs.accounts.models import ApiToken, LoginSession, Role, Team, TeamMembership, User
from datalabs.accounts.repository import AccountRepository
from datalabs.db.base import utcnow
from datalabs.errors import AlreadyExists, Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from datalabs.names import check_account_name, check_text

TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}: choose one of {names}", field="role") from None


def parse_scopes(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The scopes asked for (None: the default read and write); an empty list is a mistake."""
    if values is not None and len(values) == 0:
        raise InvalidInput(f"choose at least one scope: {', '.join(SCOPES)}", field="scopes")
    scopes = tuple(dict.fromkeys(values if values is not None else DEFAULT_SCOPES))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scope {unknown[0]!r}: choose from {', '.join(SCOPES)}", field="scopes"
        )
    return scopes


def require_admin(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in first")
    if not actor.is_admin:
        raise PermissionDenied("only platform admins may do this")
    return actor


class AccountService:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.repo = AccountRepository(db)

    # -- users ----------------------------------------------------------------------------

    def create_user(
        self,
        name: str,
        *,
        role: str = "user",
        password: str | None = None,
        display_name: str = "",
        email: str = "",
        actor: Actor | None = None,
    ) -> User:
        """Create a user. ``actor`` None means the local admin CLI."""
        if actor is not None:
            require_admin(actor)
        check_account_name("user", name)
        check_text("display_name", display_name, _length(User, "display_name"))
        check_text("email", email, _length(User, "email"))
        parsed_role = parse_role(role)
        if self.repo.user_by_name(name):
            raise AlreadyExists(f"a user named {name!r} already exists", field="name")
        user = User(name=name, role=parsed_role.value, display_name=display_name or name, email=email)
        if password is not None:
            user.password_hash = secrets.hash_password(_checked_password(password))
        self.repo.add(user)
        self._commit_unique(f"a user named {name!r} already exists")
        return user

    def users(self, actor: Actor | None = None) -> list[User]:
        if actor is not None:
            require_admin(actor)
        return self.repo.users()

    def user(self, name: str) -> User:
        user = self.repo.user_by_name(name)
        if user is None:
            raise NotFound(f"no user named {name!r}", field="user")
        return user

    def set_password(self, name: str, password: str) -> None:
        user = self.user(name)
        user.password_hash = secrets.hash_password(_checked_password(password))
        self.db.commit()

    def set_role(self, name: str, role: str, actor: Actor | None = None) -> User:
        if actor is not None:
            require_admin(actor)
        user = self.user(name)
        new_role = parse_role(role).value
        self._check_not_last_admin(user, new_role=new_role)
        user.role = new_role
        self.db.commit()
        return user

    def set_active(self, name: str, active: bool, actor: Actor | None = None) -> User:
        """Deactivate (no login, no token works) or reactivate a user; their files are kept."""
        if actor is not None:
            require_admin(actor)
        user = self.user(name)
        self._check_not_last_admin(user, active=active)
        user.is_active = active
        self.db.commit()
        return user

    def set_user_quota(self, name: str, quota_bytes: int | None) -> User:
        user = self.user(name)
        user.quota_bytes = quota_bytes
        self.db.commit()
        return user

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user with this name and password, or None (same time either way)."""
        user = self.repo.user_by_name(name)
        ok = secrets.verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            return None
        if secrets.needs_rehash(user.password_hash):
            user.password_hash = secrets.hash_password(password)
            self.db.commit()
        return user

    def _commit_unique(self, message: str) -> None:
        """Commit; a unique-name clash with a concurrent request becomes ``AlreadyExists``."""
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise AlreadyExists(message, field="name") from None

    def _check_not_last_admin(self, user: User, *, new_role: str | None = None, active: bool | None = None) -> None:
        losing = (new_role is not None and new_role != Role.ADMIN.value) or active is False
        if user.is_admin and losing and self.repo.count_active_admins() <= 1:
            raise Conflict(f"{user.name!r} is the last active platform admin: make another user admin first",
                           code="last_admin")

    # -- teams ----------------------------------------------------------------------------

    def create_team(self, name: str, *, description: str = "", actor: Actor | None = None) -> Team:
        if actor is not None:
            require_admin(actor)
        check_account_name("team", name)
        check_text("description", description, _length(Team, "description"))
        if self.repo.team_by_name(name):
            raise AlreadyExists(f"a team named {name!r} already exists", field="name")
        team = Team(name=name, description=description)
        self.repo.add(team)
        self._commit_unique(f"a team named {name!r} already exists")
        return team

    def team(self, name: str, actor: Actor | None = None) -> Team:
        """A team, visible to its members and platform admins (404 for anyone else)."""
        team = self.repo.team_by_name(name)
        if team is None or (actor is not None and not actor.is_admin and not actor.in_team(name)):
            raise NotFound(f"no team named {name!r}", field="team")
        return team

    def teams(self, actor: Actor | None = None) -> list[Team]:
        if actor is None or actor.is_admin:
            return self.repo.teams()
        return self.repo.teams(only_ids=set(actor.team_ids))

    def add_member(self, team_name: str, user_name: str, *, admin: bool = False,
                   actor: Actor | None = None) -> TeamMembership:
        """Add a user to a team or change their team-admin flag (team admins and platform admins)."""
        team = self.team(team_name, actor)
        if actor is not None and not actor.admins_team(team_name):
            raise PermissionDenied(f"only admins of team {team_name!r} may change its members")
        user = self.user(user_name)
        membership = self.repo.membership(team, user)
        if membership is None:
            membership = TeamMembership(team=team, user=user, is_admin=admin)
            self.repo.add(membership)
        else:
            if membership.is_admin and not admin:
                _keep_an_admin(team, membership, user_name)
            membership.is_admin = admin
        self.db.commit()
        return membership

    def remove_member(self, team_name: str, user_name: str, *, actor: Actor | None = None) -> None:
        team = self.team(team_name, actor)
        if actor is not None and not actor.admins_team(team_name) and actor.name != user_name:
            raise PermissionDenied(f"only admins of team {team_name!r} may remove other members")
        user = self.user(user_name)
        membership = self.repo.membership(team, user)
        if membership is None:
            raise NotFound(f"{user_name!r} is not a member of team {team_name!r}", field="user")
        _keep_an_admin(team, membership, user_name)
        self.repo.delete(membership)
        self.db.commit()
        for owner in (team, user):  # sessions keep loaded objects: drop the stale member lists
            self.db.expire(owner, ["memberships"])

    def set_team_quota(self, name: str, quota_bytes: int | None) -> Team:
        team = self.team(name)
        team.quota_bytes = quota_bytes
        self.db.commit()
        return team

    # -- API tokens -----------------------------------------------------------------------

    def create_token(self, user_name: str, *, name: str = "", scopes: list[str] | None = None,
                     expires_at: datetime | None = None, actor: Actor | None = None) -> NewToken:
        """A new token for ``user_name``; users make their own, the admin CLI makes anyone's."""
        if actor is not None and actor.name != user_name:
            raise PermissionDenied("users create API tokens for themselves only")
        user = self.user(user_name)
        check_text("name", name)
        parsed = parse_scopes(scopes)
        if "admin" in parsed and not user.is_admin:
            raise InvalidInput(f"the 'admin' scope is only for admins, and {user_name!r} is not one",
                               field="scopes")
        if actor is not None and not set(parsed) <= actor.scopes:
            raise PermissionDenied("a token cannot grant scopes the current credentials lack")
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInput("the expiry date is in the past", field="expires")
        secret = secrets.new_token()
        token = ApiToken(user=user, name=name[:100], token_hash=secrets.digest(secret),
                         prefix=secret[:12], scopes=" ".join(parsed), expires_at=expires_at)
        self.repo.add(token)
        self.db.commit()
        return NewToken(token, secret)

    def tokens(self, user_name: str) -> list[ApiToken]:
        return self.repo.tokens_of(self.user(user_name))

    def revoke_token(self, user_name: str, token_id: int) -> ApiToken:
        token = self.repo.token_of(self.user(user_name), token_id)
        if token is None:
            raise NotFound(f"no token {token_id} of user {user_name!r}", field="token")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            self.db.commit()
        return token

    def actor_for_token(self, secret: str) -> Actor:
        token = self.repo.token_by_hash(secrets.digest(secret))
        now = utcnow()
        if token is None or not token.user.is_active:
            raise NotAuthenticated("invalid API token", code="invalid_token")
        if token.revoked_at is not None:
            raise NotAuthenticated("this API token was revoked", code="invalid_token")
        if token.expires_at is not None and token.expires_at <= now:
            raise NotAuthenticated(
                f"this API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC", code="expired_token"
            )
        if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
            token.last_used_at = now
            self.db.commit()
        return Actor.of(token.user, scopes=token.scope_set, via="token")

    # -- web logins -----------------------------------------------------------------------

    def start_login(self, user: User, lifetime: timedelta) -> tuple[str, LoginSession]:
        """Open a web login; returns the cookie secret (kept only hashed) and the session."""
        now = utcnow()
        self.repo.delete_expired_logins(now)
        secret = secrets.new_cookie_secret()
        login = LoginSession(id=secrets.digest(secret), user=user,
                             csrf_token=secrets.new_cookie_secret(), expires_at=now + lifetime)
        self.repo.add(login)
        self.db.commit()
        return secret, login

    def login_for_cookie(self, secret: str) -> LoginSession | None:
        login = self.repo.login_by_id(secrets.digest(secret))
        if login is None or login.expires_at <= utcnow() or not login.user.is_active:
            return None
        return login

    def end_login(self, secret: str) -> None:
        login = self.repo.login_by_id(secrets.digest(secret))
        if login is not None:
            self.repo.delete(login)
            self.db.commit()


def _length(model, column: str) -> int:
    return model.__table__.c[column].type.length


def _keep_an_admin(team: Team, leaving: TeamMembership, user_name: str) -> None:
    """A team with members keeps at least one admin to manage them."""
    others = [m for m in team.memberships if m is not leaving]
    if leaving.is_admin and others and not any(m.is_admin for m in others):
        raise Conflict(f"{user_name!r} is the last admin of team {team.name!r}: make another member admin first",
                       code="last_team_admin")


def _checked_password(password: str) -> str:
    if len(password) < secrets.MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password is too short: use at least {secrets.MIN_PASSWORD_LENGTH} characters",
            field="password",
        )
    return password
