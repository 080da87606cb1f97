"""Consent to the processing of personal data (152-ФЗ): an append-only history per account."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field


class Consent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    version: str = Field(max_length=16)
    decision: str = enum_field()
    at: datetime = created_at_field()
