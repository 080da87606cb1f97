"""Telegram accounts and what ties them to the school: guardian links and staff roles."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field, timestamp_field
from models.enums import GuardianLinkStatus


class Account(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=sa.BigInteger, unique=True, index=True)
    first_name: str = Field(default="", max_length=128)
    last_name: str = Field(default="", max_length=128)
    username: str | None = Field(default=None, max_length=64)
    # Name as the school knows the person (staff): filled from the invite or the admin.
    display_name: str = Field(default="", max_length=200)
    language: str = Field(default="ru", max_length=8)
    # False once Telegram says the user blocked the bot or never started it.
    reachable: bool = True
    created_at: datetime = created_at_field()
    last_seen_at: datetime | None = timestamp_field()

    @property
    def name(self) -> str:
        return self.display_name or " ".join(p for p in (self.first_name, self.last_name) if p) or "—"


class GuardianLink(SQLModel, table=True):
    __tablename__ = "guardian_link"
    __table_args__ = (sa.UniqueConstraint("account_id", "student_id", name="uq_guardian_link"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    status: str = enum_field(GuardianLinkStatus.PENDING, index=True)
    created_at: datetime = created_at_field()
    confirmed_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()


class StaffAssignment(SQLModel, table=True):
    """One role of a staff member. A deputy has a level, a class teacher has a class."""

    __tablename__ = "staff_assignment"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    role: str = enum_field(index=True)
    level: str | None = enum_field(None)
    class_id: int | None = Field(default=None, foreign_key="school_class.id", index=True)
    active: bool = True
    created_at: datetime = created_at_field()
    ended_at: datetime | None = timestamp_field()
