"""Results requests under regulation 6.4 and the extracts issued for them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field


class ResultsRequest(SQLModel, table=True):
    __tablename__ = "results_request"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=16, unique=True, index=True)
    requester_account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    scope: str = enum_field()
    created_at: datetime = created_at_field()
    # Code printed on the extract; staff check it with /verify.
    verification_code: str | None = Field(default=None, max_length=64, unique=True)
    # SHA-256 of the issued PDF.
    extract_sha256: str | None = Field(default=None, max_length=64)
    achievements_count: int = 0
    rewards_count: int = 0
    # The class printed on the extract («5А»): after September's move up /verify still names it. NULL for
    # requests registered before it was kept.
    class_label: str | None = Field(default=None, max_length=8)
