"""Weekly digests: one delivery row per (period, recipient) makes each digest exactly-once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field, timestamp_field


class DigestDelivery(SQLModel, table=True):
    __tablename__ = "digest_delivery"
    __table_args__ = (sa.UniqueConstraint("period", "account_id", name="uq_digest_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=16, index=True)  # ISO week, e.g. «2026-W49»
    account_id: int = Field(foreign_key="account.id", index=True)
    scope: str = Field(max_length=32)  # «school», «level:ooo», «class:12»
    pdf_path: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = timestamp_field()
