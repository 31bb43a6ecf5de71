"""Account routes: who am I, API tokens, users (admins), teams and membership."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Response

from datalabs.accounts import schemas
from datalabs.accounts.service import AccountService, require_admin
from datalabs.api.deps import CurrentActor, DbSession
from datalabs.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.get("/me", response_model=schemas.MeOut, summary="The calling user")
def me(actor: CurrentActor, db: DbSession):
    user = AccountService(db).user(actor.name)
    return schemas.MeOut(**schemas.UserOut.of(user).model_dump(), effective_role=actor.role.value,
                         authenticated_by=actor.via, scopes=sorted(actor.scopes))


@router.get("/tokens", response_model=list[schemas.TokenOut], summary="My API tokens")
def list_tokens(actor: CurrentActor, db: DbSession):
    return [schemas.TokenOut.of(t) for t in AccountService(db).tokens(actor.name)]


@router.post("/tokens", response_model=schemas.NewTokenOut, status_code=201,
             summary="Create an API token (the secret is in this response only)")
def create_token(body: schemas.TokenCreate, actor: CurrentActor, db: DbSession):
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    new = AccountService(db).create_token(actor.name, name=body.name, scopes=body.scopes,
                                          expires_at=expires, actor=actor)
    return schemas.NewTokenOut(**schemas.TokenOut.of(new.token).model_dump(), token=new.secret)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of my API tokens")
def revoke_token(token_id: int, actor: CurrentActor, db: DbSession):
    AccountService(db).revoke_token(actor.name, token_id)
    return Response(status_code=204)


@router.get("/users", response_model=list[schemas.UserOut], summary="All users (admins)")
def list_users(actor: CurrentActor, db: DbSession):
    return [schemas.UserOut.of(u) for u in AccountService(db).users(actor)]


@router.post("/users", response_model=schemas.UserOut, status_code=201, summary="Create a user (admins)")
def create_user(body: schemas.UserCreate, actor: CurrentActor, db: DbSession):
    user = AccountService(db).create_user(body.name, role=body.role, password=body.password,
                                          display_name=body.display_name, email=body.email, actor=actor)
    return schemas.UserOut.of(user)


@router.get("/users/{name}", response_model=schemas.UserOut, summary="One user (admins, or the user)")
def get_user(name: str, actor: CurrentActor, db: DbSession):
    if actor.name != name and not actor.is_admin:
        raise NotFound(f"no user named {name!r}", field="user")
    return schemas.UserOut.of(AccountService(db).user(name))


@router.patch("/users/{name}", response_model=schemas.UserOut, summary="Change role, activity or quota (admins)")
def update_user(name: str, body: schemas.UserUpdate, actor: CurrentActor, db: DbSession):
    require_admin(actor)
    service = AccountService(db)
    user = service.user(name)
    if body.role is not None:
        user = service.set_role(name, body.role, actor)
    if body.active is not None:
        user = service.set_active(name, body.active, actor)
    if body.quota is not None:
        user = service.set_user_quota(name, None if body.quota == "default" else body.quota)
    return schemas.UserOut.of(user)


@router.get("/teams", response_model=list[schemas.TeamOut], summary="My teams (admins: all teams)")
def list_teams(actor: CurrentActor, db: DbSession):
    return [schemas.TeamOut.of(t) for t in AccountService(db).teams(actor)]


@router.post("/teams", response_model=schemas.TeamOut, status_code=201, summary="Create a team (admins)")
def create_team(body: schemas.TeamCreate, actor: CurrentActor, db: DbSession):
    return schemas.TeamOut.of(AccountService(db).create_team(body.name, description=body.description, actor=actor))


@router.get("/teams/{name}", response_model=schemas.TeamOut, summary="A team and its members (members, admins)")
def get_team(name: str, actor: CurrentActor, db: DbSession):
    return schemas.TeamOut.of(AccountService(db).team(name, actor))


@router.put("/teams/{name}/members/{user}", response_model=schemas.TeamOut,
            summary="Add a member or set their team-admin flag (team admins)")
def set_member(name: str, user: str, body: schemas.MemberSet, actor: CurrentActor, db: DbSession):
    service = AccountService(db)
    service.add_member(name, user, admin=body.admin, actor=actor)
    return schemas.TeamOut.of(service.team(name))


@router.delete("/teams/{name}/members/{user}", status_code=204,
               summary="Remove a member (team admins; members may leave)")
def remove_member(name: str, user: str, actor: CurrentActor, db: DbSession):
    AccountService(db).remove_member(name, user, actor=actor)
    return Response(status_code=204)
