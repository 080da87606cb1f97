"""The access register of one child: every recorded view, export and change of their data, in order.

What a school hands over on a personal-data inquiry (152-ФЗ): who, when, what, through which channel,
and whether it was allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Account, AuditEvent, Student


@dataclass(frozen=True)
class RegisterLine:
    at: datetime
    actor: str
    action: str
    object: str
    allowed: bool
    channel: str


async def access_register(
    session: AsyncSession, student_id: int
) -> tuple[Student | None, list[RegisterLine]]:
    student = await session.get(Student, student_id)
    rows = (
        await session.exec(
            select(AuditEvent, Account)
            .outerjoin(Account, col(Account.id) == col(AuditEvent.actor_account_id))
            .where(AuditEvent.student_id == student_id)
            .order_by(col(AuditEvent.at), col(AuditEvent.id))
        )
    ).all()
    return student, [
        RegisterLine(
            at=event.at,
            actor=_actor(event, account),
            action=event.action,
            object=f"{event.object_type} {event.object_id}" if event.object_type else "",
            allowed=event.allowed,
            channel=event.channel,
        )
        for event, account in rows
    ]


def _actor(event: AuditEvent, account: Account | None) -> str:
    if account is not None:
        return f"{account.name} (id {account.id})"
    if event.actor_telegram_id is not None:
        return f"Telegram {event.actor_telegram_id}"
    return "—"
