"""The notification outbox: messages to other people, sent by one rate-limited sender."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field, timestamp_field
from models.enums import OutboxStatus


class Notification(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    # The student the message is about, when it is about one: withdrawn consent cancels the pending
    # ones to that guardian, and retention destroys them with the student's records.
    student_id: int | None = Field(default=None, foreign_key="student.id", index=True)
    # Same key, same notification: a retry of the producing action never queues it twice.
    dedup_key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)
    # What to send, as JSON: text, optional document/photo path, optional buttons.
    payload: str = Field(sa_type=sa.Text)
    status: str = enum_field(OutboxStatus.PENDING, index=True)
    attempts: int = 0
    not_before: datetime | None = timestamp_field(index=True)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = timestamp_field()
    # The Telegram message that carries the text and buttons, so it can be edited later (a review card
    # shows the decision once someone decided, wherever it was decided).
    message_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    error: str | None = Field(default=None, max_length=255)
