"""Web admin sign-in: one-time links sent by the bot, and the server-side sessions they open."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, created_at_field, timestamp_field


class AdminLoginToken(SQLModel, table=True):
    """A sign-in link: valid for minutes, spent once, bound to one account. Only the token's hash is kept."""

    __tablename__ = "admin_login_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = timestamp_field()


class AdminSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its hash is kept here."""

    __tablename__ = "admin_session"

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64, unique=True, index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    # Sent with every form of this session and checked on every POST.
    csrf_token: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
