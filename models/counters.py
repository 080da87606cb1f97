"""Per-year counters behind human numbers such as «2026-0142»."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Counter(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=32)  # e.g. «achievement:2026»
    value: int = 0
