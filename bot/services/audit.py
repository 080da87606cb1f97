"""The audit log: one appended row per view, export or change of a child's data (regulation 6.2)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel.ext.asyncio.session import AsyncSession

from models import AuditEvent
from models.enums import AuditChannel


async def record(
    session: AsyncSession,
    *,
    action: str,
    channel: AuditChannel,
    actor_account_id: int | None = None,
    actor_telegram_id: int | None = None,
    student_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    allowed: bool = True,
    details: str | None = None,
) -> None:
    """Add an audit row to the session; the calling service commits it with the change it describes."""
    session.add(
        AuditEvent(
            action=action,
            channel=channel,
            actor_account_id=actor_account_id,
            actor_telegram_id=actor_telegram_id,
            student_id=student_id,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            allowed=allowed,
            details=None if details is None else details[:1000],
        )
    )


async def record_viewed(
    session: AsyncSession,
    *,
    action: str,
    actor_account_id: int | None,
    student_ids: Iterable[int],
    object_type: str,
    object_id: str | int | None = None,
    channel: AuditChannel = AuditChannel.BOT,
) -> None:
    """Children's data was shown (in the bot a class roster, a guardian's children, a card; a page of a
    list in the admin): one row per child, so that each child's access register says who saw them;
    committed here, as showing changes nothing else."""
    for student_id in student_ids:
        await record(
            session,
            action=action,
            channel=channel,
            actor_account_id=actor_account_id,
            student_id=student_id,
            object_type=object_type,
            object_id=object_id,
        )
    await session.commit()
