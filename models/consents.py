"""Consent to the processing of a child's personal data (152-ФЗ): an append-only history."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field


class Consent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    # Consent concerns one child's data: the guardian's child, or the student themself.
    student_id: int | None = Field(default=None, foreign_key="student.id", index=True)
    version: str = Field(max_length=16)
    decision: str = enum_field()
    at: datetime = created_at_field()
