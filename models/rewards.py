"""Rewards (поощрения) granted by staff (regulation 3.3)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field


class Reward(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    kind: str = enum_field(length=32)
    reason: str = Field(max_length=500)
    granted_on: date
    order_number: str | None = Field(default=None, max_length=64)
    achievement_id: int | None = Field(default=None, foreign_key="achievement.id")
    granted_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    created_at: datetime = created_at_field()
