"""Achievements, their evidence files and their status history."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, created_at_field, enum_field, timestamp_field, utcnow
from models.enums import AchievementStatus


class Achievement(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Human number, e.g. «2026-0142».
    number: str = Field(max_length=16, unique=True, index=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    submitted_by_account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    category: str = enum_field(length=32, index=True)
    level: str = enum_field(length=32)
    result: str = enum_field(length=32)
    title: str = Field(max_length=200)
    event_date: date
    source: str = enum_field()
    status: str = enum_field(AchievementStatus.PENDING, index=True)
    forwarded: bool = False
    duplicate: bool = False
    reject_reason: str | None = Field(default=None, max_length=500)
    decided_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    decided_at: datetime | None = timestamp_field()
    # When the last pending reminder went to the class teacher, and whether the deputy was told.
    reminded_at: datetime | None = timestamp_field()
    escalated_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class EvidenceFile(SQLModel, table=True):
    __tablename__ = "evidence_file"

    id: int | None = Field(default=None, primary_key=True)
    achievement_id: int = Field(foreign_key="achievement.id", index=True)
    position: int = 0
    # Path relative to MEDIA_DIR; the name is random.
    path: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    # SHA-256 of the bytes as received, before normalisation: spots the same file sent twice.
    original_sha256: str = Field(max_length=64, index=True)
    mime_type: str = Field(max_length=64)
    size: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = created_at_field()


class AchievementStatusChange(SQLModel, table=True):
    __tablename__ = "achievement_status_change"

    id: int | None = Field(default=None, primary_key=True)
    achievement_id: int = Field(foreign_key="achievement.id", index=True)
    from_status: str | None = enum_field(None)
    to_status: str = enum_field()
    actor_account_id: int | None = Field(default=None, foreign_key="account.id")
    note: str | None = Field(default=None, max_length=500)
    at: datetime = created_at_field()
