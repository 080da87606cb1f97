"""The access policy: the one place that decides who may see or change which student's data.

Deny by default. Every handler and admin route asks here at the moment of acting; nothing is inferred
from which buttons someone was shown.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.principal import Principal
from models import Achievement, SchoolClass, Student
from models.enums import SchoolLevel, StudentStatus

_GRADES = {SchoolLevel.NOO: (1, 4), SchoolLevel.OOO: (5, 9), SchoolLevel.SOO: (10, 11)}


def may_view_class(principal: Principal, school_class: SchoolClass) -> bool:
    """Roster and onboarding coverage of a class: its class teacher, the deputy of its level, admins."""
    return (
        principal.is_admin
        or school_class.level in principal.deputy_levels
        or school_class.id in principal.class_teacher_of
    )


async def classes_in_scope(session: AsyncSession, principal: Principal) -> list[SchoolClass]:
    """The classes a staff member may view, in school order."""
    if not principal.is_staff:
        return []
    classes = (await session.exec(select(SchoolClass).order_by(SchoolClass.grade, SchoolClass.letter))).all()
    return [c for c in classes if may_view_class(principal, c)]


def may_submit_for(principal: Principal, student: Student) -> bool:
    """Achievements of an active student: the student, their guardians, and any staff member (a coach
    sends the team's diplomas; the class teacher still reviews them)."""
    if student.status != StudentStatus.ACTIVE:
        return False
    return principal.own_student_id == student.id or student.id in principal.children or principal.is_staff


def may_review(principal: Principal, student: Student, school_class: SchoolClass) -> bool:
    """Decide or correct a student's submission: the class teacher of the student's current class, the
    deputy of its level, an administrator. `school_class` must be the student's class as loaded now."""
    if principal.account_id is None or school_class.id is None or student.class_id != school_class.id:
        return False
    return (
        principal.is_admin
        or school_class.level in principal.deputy_levels
        or school_class.id in principal.class_teacher_of
    )


def reviews_submissions(principal: Principal) -> bool:
    """Has a review queue (/pending) at all: class teachers, deputies, administrators. Which achievements
    are in it is `may_review`'s to say, one by one."""
    return principal.account_id is not None and (
        principal.is_admin or bool(principal.deputy_levels) or bool(principal.class_teacher_of)
    )


def may_withdraw(principal: Principal, achievement: Achievement) -> bool:
    """Take back a submission: only the person who submitted it."""
    return principal.account_id is not None and achievement.submitted_by_account_id == principal.account_id


def may_request_extract(principal: Principal, student: Student) -> bool:
    """A results request (regulation 6.4) for an active student: the student themself or a confirmed
    guardian. Staff do not request extracts on a family's behalf."""
    if principal.account_id is None or student.id is None or student.status != StudentStatus.ACTIVE:
        return False
    return principal.own_student_id == student.id or student.id in principal.children


def may_verify_extract(principal: Principal) -> bool:
    """Check an extract's verification code: any staff member."""
    return principal.account_id is not None and principal.is_staff
