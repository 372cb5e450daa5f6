"""Users, roles and login sessions.

Sessions are server-side rows: the cookie carries a random token, the table keeps only
its SHA-256, so a stolen database does not yield live sessions and logout (or an admin
disabling a user) ends a session at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alerts.store.db import Base, StoreError, UTCDateTime

Role = Literal["operator", "supervisor", "admin", "auditor"]
ROLES: tuple[str, ...] = get_args(Role)


class User(Base):
    """A person who logs in to the security centre."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200), comment="argon2id")
    role: Mapped[str] = mapped_column(String(16))
    compounds: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="compounds an operator works on"
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UserSession(Base):
    """A login: the SHA-256 of the cookie's token, never the token."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(64), default="", comment="client address")


# -- accounts ------------------------------------------------------------------------------

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong
# password (no user enumeration by timing).
_DUMMY = _hasher.hash("not a password of anyone")
MIN_PASSWORD = 8


class AccountError(StoreError):
    """A user cannot be created or changed (the message names the field)."""


def add_user(
    session: Session,
    name: str,
    password: str,
    *,
    role: str,
    compounds: list[str] | None = None,
    now: datetime | None = None,
) -> User:
    """Create a user with an argon2id password hash.

    Raises:
        AccountError: bad name, role, compounds or password, or the name is taken.
    """
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("user name must be 1 to 64 characters")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    comps = [c.strip() for c in (compounds or []) if c.strip()]
    if role == "operator" and not comps:
        raise AccountError("an operator needs --compounds (the compounds they work on)")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    if session.execute(select(User.id).where(User.name == name)).scalar() is not None:
        raise AccountError(f"a user named {name!r} exists already")
    u = User(
        name=name,
        password_hash=_hasher.hash(password),
        role=role,
        compounds=comps,
        active=True,
        created_at=now or datetime.now(UTC),
    )
    session.add(u)
    session.flush()
    return u


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same cost either way)."""
    u = session.execute(select(User).where(User.name == name)).scalar()
    try:
        _hasher.verify(u.password_hash if u is not None else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if u is None or not u.active:
        return None
    if _hasher.check_needs_rehash(u.password_hash):
        u.password_hash = _hasher.hash(password)
    return u


def token_hash(token: str) -> str:
    """What the sessions table keeps of a cookie token."""
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session, user: User, *, ttl_s: float, source: str = "", now: datetime | None = None
) -> str:
    """A new login; returns the token for the cookie (stored only as its hash)."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            source=source[:64],
        )
    )
    return token


def session_user(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The active user of a live session token, else None."""
    now = now or datetime.now(UTC)
    row = session.get(UserSession, token_hash(token))
    if row is None or row.expires_at <= now:
        return None
    u = session.get(User, row.user_id)
    return u if u is not None and u.active else None


def end_session(session: Session, token: str) -> bool:
    """Log out: delete the session row; True when there was one."""
    row = session.get(UserSession, token_hash(token))
    if row is None:
        return False
    session.delete(row)
    return True


def set_password(user: User, password: str) -> None:
    """Replace the user's password hash.

    Raises:
        AccountError: the password is too short.
    """
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    user.password_hash = _hasher.hash(password)
