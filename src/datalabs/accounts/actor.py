"""Who is calling: the user, their effective role and their teams, detached from the database."""

from __future__ import annotations

from dataclasses import dataclass, field

from datalabs.accounts.models import Role, User

# What an API token may be allowed to do. A token without "admin" acts with at most the
# moderator role, so a leaked everyday token of an admin cannot administer the platform.
SCOPES: dict[str, str] = {
    "read": "read everything the user can see (GET requests)",
    "write": "change the user's own things: files, tokens, team membership (POST/PUT/PATCH/DELETE)",
    "admin": "use the admin role of an admin user (register volumes, manage users and teams)",
}
DEFAULT_SCOPES = ("read", "write")


@dataclass(frozen=True)
class Actor:
    user_id: int
    name: str
    role: Role
    teams: dict[str, bool] = field(default_factory=dict)  # team name -> is team admin
    team_ids: frozenset[int] = frozenset()
    scopes: frozenset[str] = frozenset(SCOPES)
    via: str = "local"  # "token", "cookie" or "local" (the admin CLI)

    @classmethod
    def of(cls, user: User, *, scopes: frozenset[str] | None = None, via: str = "local") -> Actor:
        scopes = frozenset(SCOPES) if scopes is None else scopes
        role = user.role_enum
        if role is Role.ADMIN and "admin" not in scopes:
            role = Role.MODERATOR
        return cls(
            user_id=user.id,
            name=user.name,
            role=role,
            teams={m.team.name: m.is_admin for m in user.memberships},
            team_ids=frozenset(m.team_id for m in user.memberships),
            scopes=scopes,
            via=via,
        )

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def in_team(self, team: str) -> bool:
        return team in self.teams

    def admins_team(self, team: str) -> bool:
        return self.is_admin or self.teams.get(team, False)
