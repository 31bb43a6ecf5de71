"""API shapes for accounts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from datalabs.accounts.models import ApiToken, Team, User
from datalabs.sizes import parse_size


class Membership(BaseModel):
    team: str
    admin: bool


class UserOut(BaseModel):
    name: str
    display_name: str
    email: str
    role: str
    active: bool
    quota_bytes: int | None
    created_at: datetime
    teams: list[Membership]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, display_name=user.display_name, email=user.email, role=user.role,
                   active=user.is_active, quota_bytes=user.quota_bytes, created_at=user.created_at,
                   teams=[Membership(team=m.team.name, admin=m.is_admin)
                          for m in sorted(user.memberships, key=lambda m: m.team.name)])


class MeOut(UserOut):
    effective_role: str = Field(description="The role in force for this request (an admin's token "
                                "without the 'admin' scope acts as moderator).")
    authenticated_by: str = Field(description="'token' or 'cookie'.")
    scopes: list[str]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str = "user"
    password: str | None = None
    display_name: str = ""
    email: str = ""


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    active: bool | None = None
    quota: int | str | None = Field(None, description="Bytes or a size such as '20G'; 'default' resets it.")

    @field_validator("quota")
    @classmethod
    def _size(cls, value):
        if value is None or value == "default":
            return value
        return parse_size(value)


class TeamMemberOut(BaseModel):
    user: str
    display_name: str
    admin: bool


class TeamOut(BaseModel):
    name: str
    description: str
    quota_bytes: int | None
    created_at: datetime
    members: list[TeamMemberOut]

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        members = sorted(team.memberships, key=lambda m: m.user.name)
        return cls(name=team.name, description=team.description, quota_bytes=team.quota_bytes,
                   created_at=team.created_at,
                   members=[TeamMemberOut(user=m.user.name, display_name=m.user.display_name, admin=m.is_admin)
                            for m in members])


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    admin: bool = False


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="First characters of the token, to recognise it.")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(id=token.id, name=token.name, prefix=token.prefix, scopes=token.scopes.split(),
                   created_at=token.created_at, expires_at=token.expires_at,
                   last_used_at=token.last_used_at, revoked_at=token.revoked_at)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    scopes: list[str] | None = None
    expires_at: datetime | None = Field(None, description="ISO 8601 date-time; omit for no expiry.")


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret. Shown once: it cannot be retrieved later.")
