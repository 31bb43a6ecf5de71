"""SQL for accounts. Only this module queries the account tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from datalabs.accounts.models import ApiToken, Role, LoginSession, Team, TeamMembership, User
from datalabs.names import storable


class AccountRepository:
    def __init__(self, db: Session) -> None:
        self.db = db

    # users
    def user_by_name(self, name: str) -> User | None:
        if not storable(name):
            return None
        return self.db.scalar(select(User).where(User.name == name))

    def user_by_id(self, user_id: int) -> User | None:
        return self.db.get(User, user_id)

    def count_active_admins(self) -> int:
        return self.db.scalar(select(func.count()).select_from(User).where(
            User.role == Role.ADMIN.value, User.is_active.is_(True))) or 0

    def users(self) -> list[User]:
        return list(self.db.scalars(select(User).order_by(User.name)))

    # teams
    def team_by_name(self, name: str) -> Team | None:
        if not storable(name):
            return None
        return self.db.scalar(select(Team).where(Team.name == name))

    def teams(self, only_ids: set[int] | None = None) -> list[Team]:
        query = select(Team).order_by(Team.name)
        if only_ids is not None:
            query = query.where(Team.id.in_(only_ids))
        return list(self.db.scalars(query))

    def membership(self, team: Team, user: User) -> TeamMembership | None:
        return self.db.get(TeamMembership, (team.id, user.id))

    # tokens
    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return self.db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    def tokens_of(self, user: User) -> list[ApiToken]:
        return list(self.db.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))

    def token_of(self, user: User, token_id: int) -> ApiToken | None:
        if not 0 < token_id < 2**31:  # beyond the id column: no such token (and no overflow error)
            return None
        return self.db.scalar(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.id == token_id))

    # login sessions
    def login_by_id(self, session_id: str) -> LoginSession | None:
        return self.db.get(LoginSession, session_id)

    def delete_expired_logins(self, now: datetime) -> None:
        self.db.execute(delete(LoginSession).where(LoginSession.expires_at < now))

    def add(self, row) -> None:
        self.db.add(row)

    def delete(self, row) -> None:
        self.db.delete(row)
