"""Users (``/api/users``): admins create and change users; supervisors see whom to assign."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import delete, select

from alerts.store import audit
from alerts.store.users import AccountError, User, UserSession, add_user, set_password
from api.deps import Svc, client_address, errors, require_roles
from api.rest.schemas import UserOut

router = APIRouter(prefix="/api/users", tags=["users"])

Admin = Annotated[User, Depends(require_roles("admin"))]
Viewer = Annotated[User, Depends(require_roles("admin", "supervisor"))]
UserName = Annotated[str, Path(min_length=1, max_length=64)]
RoleName = Literal["operator", "supervisor", "admin", "auditor"]


CompoundId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"\S")]


class _NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"\S", description="login name")
    password: str = Field(min_length=8, max_length=1024)


class OperatorIn(_NewUser):
    """A new operator: works on the compounds given (at least one)."""

    role: Literal["operator"]
    compounds: list[CompoundId] = Field(min_length=1, max_length=200)


class StaffIn(_NewUser):
    """A new supervisor, admin or auditor (they see every compound, or only the audit)."""

    role: Literal["supervisor", "admin", "auditor"]
    compounds: list[CompoundId] = Field(default_factory=list, max_length=200)


UserIn = Annotated[OperatorIn | StaffIn, Field(discriminator="role")]


class UserPatch(BaseModel):
    """Changes to a user; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    compounds: list[CompoundId] | None = Field(default=None, max_length=200)
    active: bool | None = Field(default=None, description="false ends every session")
    password: str | None = Field(default=None, min_length=8, max_length=1024)


@router.get("", response_model=list[UserOut], responses=errors(401, 403))
def users(user: Viewer, svc: Svc) -> list[UserOut]:
    """Every user (for assigning incidents, and for admins to manage)."""
    with svc.tx() as s:
        return [
            UserOut.model_validate(u) for u in s.execute(select(User).order_by(User.name)).scalars()
        ]


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
def create_user(body: UserIn, admin: Admin, svc: Svc, request: Request) -> UserOut:
    """Create a user (argon2id password hash); audited."""
    try:
        with svc.tx() as s:
            u = add_user(s, body.name, body.password, role=body.role, compounds=body.compounds)
            audit.append(
                s,
                actor=admin.name,
                action="user.add",
                target=u.name,
                detail={"role": u.role, "compounds": u.compounds},
                source=client_address(request),
            )
            return UserOut.model_validate(u)
    except AccountError as exc:
        code = (
            status.HTTP_409_CONFLICT
            if "exists" in str(exc)
            else status.HTTP_422_UNPROCESSABLE_CONTENT
        )
        raise HTTPException(code, str(exc)) from None


@router.patch("/{name}", response_model=UserOut, responses=errors(401, 403, 404, 422))
def change_user(
    name: UserName, body: UserPatch, admin: Admin, svc: Svc, request: Request
) -> UserOut:
    """Change role, compounds, password or active; disabling ends the user's sessions."""
    with svc.tx() as s:
        u = s.execute(select(User).where(User.name == name)).scalar()
        if u is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user named {name!r}")
        changed = body.model_dump(exclude_none=True, exclude={"password"})
        if body.role is not None:
            u.role = body.role
        if body.compounds is not None:
            u.compounds = [c.strip() for c in body.compounds if c.strip()]
        if u.role == "operator" and not u.compounds:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "an operator needs at least one compound"
            )
        if body.active is not None:
            u.active = body.active
            if not body.active:
                s.execute(delete(UserSession).where(UserSession.user_id == u.id))
        if body.password is not None:
            try:
                set_password(u, body.password)
            except AccountError as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
            changed["password"] = "changed"
        audit.append(
            s,
            actor=admin.name,
            action="user.change",
            target=u.name,
            detail=changed,
            source=client_address(request),
        )
        return UserOut.model_validate(u)
