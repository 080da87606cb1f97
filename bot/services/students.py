"""A student's status at school: active, left or graduated. Leaving starts the retention period."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit
from models import GuardianLink, Student
from models.enums import AuditChannel, GuardianLinkStatus, StudentStatus


async def set_student_status(
    session: AsyncSession,
    student_id: int,
    status: StudentStatus,
    actor_account_id: int | None,
    channel: AuditChannel,
    now: datetime,
) -> Student | None:
    """Set the status and when it changed, audited; commits. None when there is no such student.

    Setting the status a student already has changes nothing: `status_changed_at` keeps counting the
    retention period from the real change.
    """
    student = await session.get(Student, student_id)
    if student is None:
        return None
    if student.status == status:
        return student
    old = student.status
    student.status = status
    student.status_changed_at = now
    student.updated_at = now
    session.add(student)
    await audit.record(
        session,
        action="student_status_changed",
        channel=channel,
        actor_account_id=actor_account_id,
        student_id=student_id,
        object_type="student",
        object_id=student_id,
        details=f"{old} -> {status}",
    )
    await session.commit()
    return student


async def is_former_family(session: AsyncSession, account_id: int | None) -> bool:
    """Whether this person is the student, or a confirmed guardian, of someone who left or graduated: they
    are told why the portfolio and extracts are gone rather than that only families see them."""
    if account_id is None:
        return False
    gone = col(Student.status).in_([StudentStatus.LEFT, StudentStatus.GRADUATED])
    own = select(Student.id).where(Student.account_id == account_id, gone)
    linked = (
        select(Student.id)
        .join(GuardianLink, col(GuardianLink.student_id) == col(Student.id))
        .where(
            GuardianLink.account_id == account_id,
            GuardianLink.status == GuardianLinkStatus.CONFIRMED,
            gone,
        )
    )
    return (await session.exec(own.union(linked).limit(1))).first() is not None
