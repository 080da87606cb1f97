"""Rewards (поощрения, regulation 3.3): staff record one for a student; the student and guardians are told.

Access is checked here, at the moment of acting, on the student and class as they are now
(`access.may_reward`); a refusal is audited. `now` is aware and in the school's zone: its date is «today»
for the date check.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _, in_language
from bot.services import access, audit, outbox
from bot.services.outbox import NotificationPayload
from bot.services.principal import Principal
from bot.services.submissions import EARLIEST_EVENT_DATE
from bot.services.taxonomy import RewardKind, label
from models import Account, Achievement, GuardianLink, Reward, SchoolClass, Student
from models.enums import AchievementStatus, AuditChannel, GuardianLinkStatus

MAX_REASON_LENGTH = 500
MAX_ORDER_NUMBER_LENGTH = 64
NOTIFICATION_KIND = "reward"
# What people type before an order number («№ 45-о», «N45»): the number is stored without it.
_ORDER_PREFIXES = "№# "


class RewardProblem(StrEnum):
    UNKNOWN_KIND = "unknown_kind"
    REASON_EMPTY = "reason_empty"
    REASON_TOO_LONG = "reason_too_long"
    DATE_FUTURE = "date_future"
    DATE_TOO_OLD = "date_too_old"
    ORDER_TOO_LONG = "order_too_long"
    ACHIEVEMENT_NOT_ELIGIBLE = "achievement_not_eligible"  # missing, not approved, or someone else's


class InvalidReward(ValueError):
    """Input that breaks a rule of the record; `problem` tells the handler what to say."""

    def __init__(self, problem: RewardProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class RewardDenied(PermissionError):
    """The access policy said no (the refusal is already in the audit log)."""


@dataclass(frozen=True)
class RewardTarget:
    student: Student
    school_class: SchoolClass


def clean_reason(text: str) -> str:
    """The reason as stored: whitespace collapsed, 1..500 characters. Raises InvalidReward."""
    reason = " ".join(text.split())
    if not reason:
        raise InvalidReward(RewardProblem.REASON_EMPTY)
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidReward(RewardProblem.REASON_TOO_LONG)
    return reason


def clean_order_number(text: str | None) -> str | None:
    """The order number without a typed «№»; None when there is none. Raises InvalidReward."""
    number = " ".join((text or "").split()).lstrip(_ORDER_PREFIXES)
    if len(number) > MAX_ORDER_NUMBER_LENGTH:
        raise InvalidReward(RewardProblem.ORDER_TOO_LONG)
    return number or None


def check_granted_on(value: date, today: date) -> date:
    """Not in the future, and not before 2000 (the same bounds as an achievement's date)."""
    if value > today:
        raise InvalidReward(RewardProblem.DATE_FUTURE)
    if value < EARLIEST_EVENT_DATE:
        raise InvalidReward(RewardProblem.DATE_TOO_OLD)
    return value


async def rewardable(
    session: AsyncSession,
    principal: Principal,
    student_id: int,
    *,
    channel: AuditChannel = AuditChannel.BOT,
    actor_telegram_id: int | None = None,
) -> RewardTarget | None:
    """The student and their class, loaded now, if `principal` may reward them; None after an audited,
    committed refusal (an unknown student included)."""
    known = (
        0 < student_id < 2**63
    )  # a forged id beyond SQLite's integers: no such student, and no column for it
    row = (
        (
            await session.exec(
                select(Student, SchoolClass)
                .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
                .where(Student.id == student_id)
                .execution_options(populate_existing=True)
            )
        ).first()
        if known
        else None
    )
    if row is not None and access.may_reward(principal, *row):
        return RewardTarget(*row)
    await audit.record(
        session,
        action="reward_denied",
        channel=channel,
        actor_account_id=principal.account_id,
        actor_telegram_id=actor_telegram_id,
        student_id=student_id if known else None,
        object_type="student",
        object_id=student_id,
        allowed=False,
    )
    await session.commit()
    return None


async def linkable_achievements(session: AsyncSession, student_id: int, limit: int = 10) -> list[Achievement]:
    """The student's approved achievements a reward may be linked to, newest first."""
    query = (
        select(Achievement)
        .where(Achievement.student_id == student_id, Achievement.status == AchievementStatus.APPROVED)
        .order_by(col(Achievement.event_date).desc(), col(Achievement.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def _recipients(session: AsyncSession, student: Student) -> list[Account]:
    """The student's own account and their confirmed guardians, those the bot can reach, in id order."""
    guardians = select(GuardianLink.account_id).where(
        GuardianLink.student_id == student.id, GuardianLink.status == GuardianLinkStatus.CONFIRMED
    )
    query = (
        select(Account)
        .where(
            (col(Account.id) == student.account_id) | col(Account.id).in_(guardians),
            col(Account.reachable).is_(True),
        )
        .order_by(col(Account.id))
    )
    return list((await session.exec(query)).all())


def notification_text(reward: Reward, student: Student) -> str:
    """The message to the student and guardians, in the current language."""
    lines = [
        _("🏅 <b>Поощрение: {kind}</b>").format(kind=label(RewardKind(reward.kind))),
        _("Ученик: {name}").format(name=html.escape(student.full_name)),
        _("За что: {reason}").format(reason=html.escape(reward.reason)),
        _("Дата: {date}").format(date=reward.granted_on.strftime("%d.%m.%Y")),
    ]
    if reward.order_number:
        lines.append(_("Приказ № {number}").format(number=html.escape(reward.order_number)))
    return "\n".join(lines)


async def grant_reward(
    session: AsyncSession,
    principal: Principal,
    student_id: int,
    kind: RewardKind | str,
    reason: str,
    granted_on: date,
    order_number: str | None,
    achievement_id: int | None,
    now: datetime,
    *,
    channel: AuditChannel = AuditChannel.BOT,
) -> Reward:
    """Record a reward with its audit event and the family's notifications; commits.

    Raises RewardDenied when the access policy says no (audited), InvalidReward for bad input.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    target = await rewardable(session, principal, student_id, channel=channel)
    if target is None or principal.account_id is None:
        raise RewardDenied(f"may not reward student {student_id}")
    try:
        kind = RewardKind(kind)
    except ValueError as error:
        raise InvalidReward(RewardProblem.UNKNOWN_KIND) from error
    reason = clean_reason(reason)
    check_granted_on(granted_on, now.date())
    order_number = clean_order_number(order_number)
    if achievement_id is not None:
        achievement = await session.get(Achievement, achievement_id)
        if (
            achievement is None
            or achievement.student_id != student_id
            or achievement.status != AchievementStatus.APPROVED
        ):
            raise InvalidReward(RewardProblem.ACHIEVEMENT_NOT_ELIGIBLE)

    reward = Reward(
        student_id=student_id,
        kind=kind,
        reason=reason,
        granted_on=granted_on,
        order_number=order_number,
        achievement_id=achievement_id,
        granted_by_account_id=principal.account_id,
        created_at=now,
    )
    session.add(reward)
    await session.flush()
    await audit.record(
        session,
        action="reward_granted",
        channel=channel,
        actor_account_id=principal.account_id,
        student_id=student_id,
        object_type="reward",
        object_id=reward.id,
        details=f"kind={kind}" + (f" achievement={achievement_id}" if achievement_id else ""),
    )
    for account in await _recipients(session, target.student):
        with in_language(account.language):
            text = notification_text(reward, target.student)
        await outbox.enqueue(
            session,
            account.id,  # type: ignore[arg-type]
            NOTIFICATION_KIND,
            NotificationPayload(text=text),
            dedup_key=f"reward:{reward.id}:{account.id}",
            student_id=reward.student_id,
        )
    await session.commit()
    return reward
