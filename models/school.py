"""Classes and students: the roster."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, created_at_field, enum_field, timestamp_field, utcnow
from models.enums import SchoolLevel, StudentStatus


class SchoolClass(SQLModel, table=True):
    __tablename__ = "school_class"
    __table_args__ = (
        sa.UniqueConstraint("grade", "letter", name="uq_school_class_grade_letter"),
        sa.CheckConstraint("grade BETWEEN 1 AND 11", name="ck_school_class_grade"),
    )

    id: int | None = Field(default=None, primary_key=True)
    grade: int
    letter: str = Field(max_length=4)
    created_at: datetime = created_at_field()

    @property
    def label(self) -> str:
        """Class label as the school writes it, e.g. «5А»."""
        return f"{self.grade}{self.letter}"

    @property
    def level(self) -> SchoolLevel:
        return SchoolLevel.for_grade(self.grade)


class Student(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    class_id: int = Field(foreign_key="school_class.id", index=True)
    surname: str = Field(max_length=100)
    name: str = Field(max_length=100)
    patronymic: str = Field(default="", max_length=100)
    birth_date: date | None = None
    # Identifier in the school's e-journal; matches re-imports when present.
    external_id: str | None = Field(default=None, max_length=64, unique=True)
    status: str = enum_field(StudentStatus.ACTIVE, index=True)
    status_changed_at: datetime | None = timestamp_field()
    # The student's own Telegram account, once they redeemed their invite.
    account_id: int | None = Field(default=None, foreign_key="account.id", unique=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.surname, self.name, self.patronymic) if part)

    @property
    def short_name(self) -> str:
        """«Иванов Пётр» — used in buttons and lists where space is short."""
        return f"{self.surname} {self.name}"
