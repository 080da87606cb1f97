"""One-time invite codes and the record of attempts to redeem them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, created_at_field, enum_field, timestamp_field


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the code: the code itself is shown once (link, sheet) and never stored.
    code_hash: str = Field(max_length=64, unique=True, index=True)
    purpose: str = enum_field()
    student_id: int | None = Field(default=None, foreign_key="student.id", index=True)
    role: str | None = enum_field(None)
    level: str | None = enum_field(None)
    class_id: int | None = Field(default=None, foreign_key="school_class.id")
    created_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = timestamp_field()
    used_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    revoked_at: datetime | None = timestamp_field()


class CodeAttempt(SQLModel, table=True):
    """A failed redemption, counted per Telegram user to stop code guessing."""

    __tablename__ = "code_attempt"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=sa.BigInteger, index=True)
    at: datetime = created_at_field()
