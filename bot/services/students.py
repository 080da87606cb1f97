"""A student's status in the school: active, left or graduated (the retention clock starts then)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit
from models import Student
from models.enums import AuditChannel, StudentStatus


async def set_status(
    session: AsyncSession,
    student_id: int,
    status: StudentStatus,
    now: datetime,
    *,
    actor_account_id: int | None,
    channel: AuditChannel,
) -> bool:
    """Set a student's status and when it changed, audited; False (nothing written) when it already was. Commits.

    Who may do this is the access policy's to say (`may_manage_roster`) before the call.
    """
    result = await session.exec(
        update(Student)
        .where(col(Student.id) == student_id, Student.status != status)
        .values(status=status, status_changed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        await session.rollback()
        return False
    await audit.record(
        session,
        action="student_status_changed",
        channel=channel,
        actor_account_id=actor_account_id,
        student_id=student_id,
        object_type="student",
        object_id=student_id,
        details=f"status={status}",
    )
    await session.commit()
    return True
