"""Withdrawing consent to the processing of a child's data (152-ФЗ, art. 9; regulation 6.2): a guardian's
for their child, or a student's for themself.

Everything happens in one transaction, so there is no moment when the link is gone but processing goes
on: the link is undone (a guardian's link revoked, or the student's Telegram account unlinked from their
record), the withdrawal is appended to the consent history, the person's submissions still waiting for
review are withdrawn, notifications about the child still queued for that person are cancelled, and the
class teacher and the administrators are told (without a guardian's data: the school knows its families,
and the message goes to several people).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _, in_language
from bot.services import access, audit, outbox
from bot.services.onboarding import CONSENT_VERSION
from bot.services.outbox import NotificationPayload
from bot.services.principal import Principal
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    Consent,
    GuardianLink,
    Notification,
    SchoolClass,
    StaffAssignment,
    Student,
)
from models.enums import (
    AchievementStatus,
    AuditChannel,
    ConsentDecision,
    GuardianLinkStatus,
    OutboxStatus,
    StaffRole,
    StudentStatus,
)

NOTIFICATION_KIND = "consent_withdrawn"


@dataclass(frozen=True)
class Withdrawal:
    """What the withdrawal did."""

    student_name: str
    by_student: bool  # the student withdrew their own consent (not a guardian)
    submissions_withdrawn: int
    notifications_cancelled: int
    staff_told: int


async def withdraw_consent(
    session: AsyncSession,
    principal: Principal,
    student_id: int,
    now: datetime,
    *,
    channel: AuditChannel = AuditChannel.BOT,
) -> Withdrawal | None:
    """Withdraw consent for this child: the student's own, or a guardian's for their child; commits. None
    (and a denied audit row when the child exists) when this person may not, or no longer may."""
    student = await session.get(Student, student_id) if 0 < student_id < 2**63 else None  # SQLite's range
    account_id = principal.account_id
    if student is None or account_id is None or not access.may_withdraw_consent(principal, student):
        return await _denied(session, principal, student.id if student else None, channel)
    by_student = principal.own_student_id == student_id
    unlink = _unlink_student if by_student else _revoke_guardian_link
    if not await unlink(session, account_id, student_id, now):
        await session.rollback()  # the other tap withdrew first
        return await _denied(session, principal, student_id, channel)
    consent = Consent(
        account_id=account_id,
        student_id=student_id,
        version=CONSENT_VERSION,
        decision=ConsentDecision.WITHDRAWN,
        at=now,
    )
    session.add(consent)
    withdrawn = await _withdraw_pending_submissions(session, account_id, student_id, now, channel)
    cancelled = await _cancel_queued_notifications(session, account_id, student_id)
    await audit.record(
        session,
        action="consent_withdrawn",
        channel=channel,
        actor_account_id=account_id,
        student_id=student_id,
        object_type="student_account" if by_student else "guardian_link",
        details=(
            f"version={CONSENT_VERSION} submissions_withdrawn={withdrawn} notifications_cancelled={cancelled}"
        ),
    )
    await session.flush()
    told = await _tell_staff(session, student, account_id, withdrawn, f"{consent.id}", by_student=by_student)
    await session.commit()
    return Withdrawal(
        student_name=student.full_name,
        by_student=by_student,
        submissions_withdrawn=withdrawn,
        notifications_cancelled=cancelled,
        staff_told=told,
    )


async def was_guardian_of(session: AsyncSession, account_id: int | None, student_id: int) -> bool:
    """Whether this person has ever been linked to the child as a guardian (a refusal speaks of «this
    child» only then: a student who is also a sibling's guardian pressing their own old button is not)."""
    if account_id is None or not 0 < student_id < 2**63:
        return False
    link = await session.exec(
        select(GuardianLink.id).where(
            GuardianLink.account_id == account_id, GuardianLink.student_id == student_id
        )
    )
    return link.first() is not None


async def _revoke_guardian_link(
    session: AsyncSession, account_id: int, student_id: int, now: datetime
) -> bool:
    """A guardian's confirmed link to the child ends. Conditional: of two taps on «Отозвать», one acts."""
    revoked = await session.exec(
        update(GuardianLink)
        .where(
            col(GuardianLink.account_id) == account_id,
            col(GuardianLink.student_id) == student_id,
            GuardianLink.status == GuardianLinkStatus.CONFIRMED,
        )
        .values(status=GuardianLinkStatus.REVOKED, revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return revoked.rowcount == 1


async def _unlink_student(session: AsyncSession, account_id: int, student_id: int, now: datetime) -> bool:
    """The student's Telegram account leaves their record (what `onboarding.accept_consent` set; the
    record itself, with its approved achievements, stays the school's). Conditional, like the guardian's."""
    unlinked = await session.exec(
        update(Student)
        .where(
            col(Student.id) == student_id,
            col(Student.account_id) == account_id,
            Student.status == StudentStatus.ACTIVE,
        )
        .values(account_id=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return unlinked.rowcount == 1


async def _cancel_queued_notifications(session: AsyncSession, account_id: int, student_id: int) -> int:
    """Messages about the child still waiting in the outbox for this person: not to be sent."""
    cancelled = await session.exec(
        update(Notification)
        .where(
            col(Notification.account_id) == account_id,
            col(Notification.student_id) == student_id,
            Notification.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.CANCELLED, error="consent withdrawn")
        .execution_options(synchronize_session=False)
    )
    return cancelled.rowcount


async def _denied(
    session: AsyncSession, principal: Principal, student_id: int | None, channel: AuditChannel
) -> None:
    """A denied row names the child when there is one (an id, not the object: a rollback expired it)."""
    if student_id is not None:
        await audit.record(
            session,
            action="consent_withdrawn",
            channel=channel,
            actor_account_id=principal.account_id,
            student_id=student_id,
            allowed=False,
        )
        await session.commit()
    return None


async def _withdraw_pending_submissions(
    session: AsyncSession, account_id: int, student_id: int, now: datetime, channel: AuditChannel
) -> int:
    """The person's own submissions about the child that nobody reviewed yet: no longer to be processed."""
    pending = (
        await session.exec(
            select(Achievement.id).where(
                Achievement.student_id == student_id,
                Achievement.submitted_by_account_id == account_id,
                Achievement.status == AchievementStatus.PENDING,
            )
        )
    ).all()
    for achievement_id in pending:
        session.add(
            AchievementStatusChange(
                achievement_id=achievement_id,
                from_status=AchievementStatus.PENDING,
                to_status=AchievementStatus.WITHDRAWN,
                actor_account_id=account_id,
                note="consent withdrawn",
                at=now,
            )
        )
        await audit.record(
            session,
            action="achievement_withdrawn",
            channel=channel,
            actor_account_id=account_id,
            student_id=student_id,
            object_type="achievement",
            object_id=achievement_id,
            details="consent withdrawn",
        )
    if pending:
        await session.exec(
            update(Achievement)
            .where(col(Achievement.id).in_(pending), Achievement.status == AchievementStatus.PENDING)
            .values(
                status=AchievementStatus.WITHDRAWN,
                decided_by_account_id=account_id,
                decided_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return len(pending)


async def _tell_staff(
    session: AsyncSession, student: Student, account_id: int, withdrawn: int, key: str, *, by_student: bool
) -> int:
    """The class teacher(s) of the child's class and the administrators, each in their language."""
    school_class = await session.get(SchoolClass, student.class_id)
    class_label = school_class.label if school_class is not None else "—"
    staff_ids = set(
        (
            await session.exec(
                select(StaffAssignment.account_id).where(
                    col(StaffAssignment.active).is_(True),
                    (StaffAssignment.role == StaffRole.ADMIN)
                    | (
                        (StaffAssignment.role == StaffRole.CLASS_TEACHER)
                        & (StaffAssignment.class_id == student.class_id)
                    ),
                )
            )
        ).all()
    )
    staff_ids.discard(account_id)
    if not staff_ids:
        return 0
    accounts = (
        await session.exec(select(Account).where(col(Account.id).in_(staff_ids)).order_by(col(Account.id)))
    ).all()
    for account in accounts:
        with in_language(account.language):
            text = (_withdrawn_by_student() if by_student else _withdrawn_by_guardian()).format(
                student=html.escape(student.short_name), class_label=html.escape(class_label)
            )
            if withdrawn:
                text += "\n" + _("Отозвано его достижений, ещё не рассмотренных: {count}.").format(
                    count=withdrawn
                )
        await outbox.enqueue(
            session,
            account.id,  # type: ignore[arg-type]
            NOTIFICATION_KIND,
            NotificationPayload(text=text),
            dedup_key=f"consent:{key}:{account.id}",
            student_id=student.id,
        )
    return len(accounts)


def _withdrawn_by_guardian() -> str:
    return _(
        "🚫 Родитель ученика {student}, {class_label} отозвал согласие на обработку персональных "
        "данных ребёнка. Связь этого родителя с учеником прекращена, уведомления ему больше не "
        "отправляются."
    )


def _withdrawn_by_student() -> str:
    return _(
        "🚫 Ученик {student}, {class_label} сам отозвал согласие на обработку своих персональных "
        "данных. Его аккаунт в боте отключён от записи ученика, уведомления ему больше не отправляются."
    )
