"""Small factories: a school in one line, and single rows when a test needs just one more.

school = await make_school(session_factory)
school.teacher_5a, school.students_5a[0], school.guardian ...
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from models import Account, GuardianLink, SchoolClass, StaffAssignment, Student
from models.db import SessionFactory
from models.enums import GuardianLinkStatus, SchoolLevel, StaffRole

_telegram_ids = itertools.count(700_001)


async def make_account(session: AsyncSession, name: str, *, telegram_id: int | None = None) -> Account:
    account = Account(telegram_id=telegram_id or next(_telegram_ids), first_name=name, display_name=name)
    session.add(account)
    await session.flush()
    return account


async def assign(
    session: AsyncSession,
    account: Account,
    role: StaffRole,
    *,
    school_class: SchoolClass | None = None,
    level: SchoolLevel | None = None,
    active: bool = True,
) -> StaffAssignment:
    assignment = StaffAssignment(
        account_id=account.id,
        role=role,
        class_id=school_class.id if school_class else None,
        level=level,
        active=active,
    )
    session.add(assignment)
    await session.flush()
    return assignment


async def make_class(session: AsyncSession, grade: int, letter: str) -> SchoolClass:
    school_class = SchoolClass(grade=grade, letter=letter)
    session.add(school_class)
    await session.flush()
    return school_class


async def make_student(session: AsyncSession, school_class: SchoolClass, surname: str, name: str) -> Student:
    student = Student(class_id=school_class.id, surname=surname, name=name)
    session.add(student)
    await session.flush()
    return student


@dataclass
class School:
    class_5a: SchoolClass
    class_5b: SchoolClass
    students_5a: list[Student]
    students_5b: list[Student]
    guardian: Account  # confirmed guardian of students_5a[0]
    teacher_5a: Account  # class teacher of 5А
    teacher_5b: Account  # class teacher of 5Б
    coach: Account  # a teacher without a class
    deputy: Account  # deputy director of ООО (grades 5–9)
    admin: Account


async def make_school(session_factory: SessionFactory) -> School:
    """Two classes (5А, 5Б) of two students each, a guardian, their class teachers, a coach, the
    deputy of the level and an administrator."""
    async with session_factory() as session:
        class_5a = await make_class(session, 5, "А")
        class_5b = await make_class(session, 5, "Б")
        students_5a = [
            await make_student(session, class_5a, "Иванов", "Пётр"),
            await make_student(session, class_5a, "Смирнова", "Анна"),
        ]
        students_5b = [
            await make_student(session, class_5b, "Кузнецов", "Илья"),
            await make_student(session, class_5b, "Попова", "Мария"),
        ]
        guardian = await make_account(session, "Ольга Иванова")
        session.add(
            GuardianLink(
                account_id=guardian.id, student_id=students_5a[0].id, status=GuardianLinkStatus.CONFIRMED
            )
        )
        teacher_5a = await make_account(session, "Елена Петровна")
        await assign(session, teacher_5a, StaffRole.CLASS_TEACHER, school_class=class_5a)
        teacher_5b = await make_account(session, "Сергей Иванович")
        await assign(session, teacher_5b, StaffRole.CLASS_TEACHER, school_class=class_5b)
        coach = await make_account(session, "Тренер Орлов")
        await assign(session, coach, StaffRole.TEACHER)
        deputy = await make_account(session, "Завуч Морозова")
        await assign(session, deputy, StaffRole.DEPUTY, level=SchoolLevel.OOO)
        admin = await make_account(session, "Директор")
        await assign(session, admin, StaffRole.ADMIN)
        await session.commit()
    return School(
        class_5a, class_5b, students_5a, students_5b, guardian, teacher_5a, teacher_5b, coach, deputy, admin
    )
