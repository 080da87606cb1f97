"""Onboarding coverage: how many students of a class have a linked guardian and their own account."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import GuardianLink, SchoolClass, Student
from models.enums import GuardianLinkStatus, StudentStatus


@dataclass(frozen=True)
class StudentOnboarding:
    student_id: int
    full_name: str
    guardians: int
    has_account: bool


@dataclass(frozen=True)
class ClassCoverage:
    class_label: str
    students: list[StudentOnboarding]

    @property
    def with_guardian(self) -> int:
        return sum(1 for s in self.students if s.guardians > 0)

    @property
    def with_account(self) -> int:
        return sum(1 for s in self.students if s.has_account)


async def classes_coverage(session: AsyncSession, classes: list[SchoolClass]) -> list[ClassCoverage]:
    """Coverage of several classes with one query, in the order given."""
    # Counted per student through the index, not by grouping every link of the school.
    guardians = (
        select(func.count())
        .where(
            col(GuardianLink.student_id) == col(Student.id),
            GuardianLink.status == GuardianLinkStatus.CONFIRMED,
        )
        .correlate(Student)
        .scalar_subquery()
    )
    rows = (
        await session.exec(
            select(Student, guardians)
            .where(col(Student.class_id).in_([c.id for c in classes]), Student.status == StudentStatus.ACTIVE)
            .order_by(Student.surname, Student.name, Student.patronymic)
        )
    ).all()
    by_class: dict[int, list[StudentOnboarding]] = {c.id: [] for c in classes if c.id is not None}
    for student, n in rows:
        by_class[student.class_id].append(
            StudentOnboarding(student.id, student.full_name, int(n), student.account_id is not None)
        )
    return [ClassCoverage(class_label=c.label, students=by_class.get(c.id, [])) for c in classes]
