"""Reminders about submissions that wait too long for review, and escalations to the deputy.

- Pending more than 3 days: each reviewer (the class teacher(s) of the student's current class, with
  the same fallbacks as `submissions.reviewers_for`) gets ONE message a school day listing everything
  overdue of theirs. Its dedup key names the recipient and the school day, so running again that day (a
  second run, a restart) queues nothing new.
- Pending more than 7 days: the deputy of the class's level (else the administrators) is told once per
  achievement. `escalated_at` is claimed with a conditional UPDATE, so it happens exactly once.

Run by the scheduler with no aiogram context: the I18n instance is passed in, and every text is made in
its recipient's language.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from aiogram.utils.i18n import I18n, ngettext
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _, in_language
from bot.services import outbox
from bot.services.outbox import NotificationPayload
from bot.services.submissions import reviewers_for
from models import Account, Achievement, Notification, SchoolClass, StaffAssignment, Student
from models.enums import AchievementStatus, SchoolLevel, StaffRole, StudentStatus

log = logging.getLogger(__name__)

REMIND_AFTER = timedelta(days=3)
ESCALATE_AFTER = timedelta(days=7)
# Items listed one by one in a reminder; the rest are counted.
MAX_LISTED = 10


@dataclass(frozen=True)
class ReminderReport:
    """Notifications queued by one run (a run that finds everything already done queues none)."""

    reminders: int = 0
    escalations: int = 0

    @property
    def queued(self) -> int:
        return self.reminders + self.escalations


@dataclass(frozen=True)
class _Overdue:
    achievement: Achievement
    student: Student
    school_class: SchoolClass
    days: int  # whole days pending


def days_text(days: int) -> str:
    """«1 день», «2 дня», «5 дней», «21 день» in the current I18n context's language."""
    return ngettext("{days} день", "{days} дня", days).format(days=days)


def _reminder_message(items: list[_Overdue]) -> NotificationPayload:
    """One reviewer's overdue items, oldest first."""
    count = len(items)
    lines = [
        ngettext(
            "⏰ <b>{count} достижение ждёт вашей проверки</b>",
            "⏰ <b>{count} достижения ждут вашей проверки</b>",
            count,
        ).format(count=count)
    ]
    oldest = items[0]
    if count > 1:
        lines.append(
            _("Самое давнее — № {number}, ждёт уже {age}.").format(
                number=oldest.achievement.number, age=days_text(oldest.days)
            )
        )
    lines.append("")
    for item in items[:MAX_LISTED]:
        lines.append(
            _("• № {number} — {name}, {class_label}, {age}").format(
                number=item.achievement.number,
                name=html.escape(item.student.short_name),
                class_label=html.escape(item.school_class.label),
                age=days_text(item.days),
            )
        )
    if count > MAX_LISTED:
        lines.append(_("…и ещё {count}.").format(count=count - MAX_LISTED))
    if count == 1:
        lines += ["", _("Откройте /pending, чтобы рассмотреть его.")]
    else:
        lines += ["", _("Откройте /pending, чтобы их рассмотреть.")]
    return NotificationPayload(text="\n".join(lines))


def _escalation_message(item: _Overdue, class_teachers: list[Account]) -> NotificationPayload:
    lines = [
        _("⚠️ <b>Достижение № {number} ждёт проверки уже {age}</b>").format(
            number=item.achievement.number, age=days_text(item.days)
        ),
        _("Ученик: {name}, {class_label}").format(
            name=html.escape(item.student.full_name), class_label=html.escape(item.school_class.label)
        ),
        _("Название: {title}").format(title=html.escape(item.achievement.title)),
    ]
    if class_teachers:
        names = ", ".join(html.escape(account.name) for account in class_teachers)
        lines += [
            _("Классный руководитель: {name}").format(name=names),
            "",
            _("Откройте /pending, чтобы рассмотреть его, или напомните классному руководителю."),
        ]
    else:
        lines += [
            _("Классный руководитель не назначен."),
            "",
            _("Откройте /pending, чтобы рассмотреть его."),
        ]
    return NotificationPayload(text="\n".join(lines))


async def _overdue(session: AsyncSession, now: datetime) -> list[_Overdue]:
    """Pending more than REMIND_AFTER, oldest first."""
    rows = (
        await session.exec(
            select(Achievement, Student, SchoolClass)
            .join(Student, col(Student.id) == col(Achievement.student_id))
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(
                Achievement.status == AchievementStatus.PENDING,
                Achievement.created_at < now - REMIND_AFTER,
                # A student who left is nobody's to review (access.may_review): nothing to remind of.
                Student.status == StudentStatus.ACTIVE,
            )
            .order_by(col(Achievement.created_at), col(Achievement.id))
        )
    ).all()
    return [
        _Overdue(achievement, student, school_class, (now - achievement.created_at) // timedelta(days=1))
        for achievement, student, school_class in rows
    ]


async def _staff(session: AsyncSession, role: StaffRole, *conditions: object) -> list[Account]:
    """Accounts with an active assignment of `role` matching `conditions`, in id order."""
    query = (
        select(Account)
        .join(StaffAssignment, col(StaffAssignment.account_id) == col(Account.id))
        .where(StaffAssignment.role == role, col(StaffAssignment.active).is_(True), *conditions)
        .order_by(col(Account.id))
    )
    unique: dict[int | None, Account] = {}
    for account in (await session.exec(query)).all():
        unique.setdefault(account.id, account)  # two assignments of the same role: one person
    return list(unique.values())


async def _accounts(session: AsyncSession, account_ids: set[int]) -> dict[int, Account]:
    if not account_ids:
        return {}
    rows = await session.exec(select(Account).where(col(Account.id).in_(account_ids)))
    return {account.id: account for account in rows.all() if account.id is not None}


async def _existing_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    rows = await session.exec(select(Notification.dedup_key).where(col(Notification.dedup_key).in_(keys)))
    return set(rows.all())


async def _queue_reminders(
    session: AsyncSession, items: list[_Overdue], now: datetime, i18n: I18n, tz: tzinfo
) -> int:
    """One message per reviewer and school day; `reminded_at` on what it lists. Returns messages queued."""
    reviewers_of_class: dict[int, list[int]] = {}
    by_reviewer: dict[int, list[_Overdue]] = {}
    for item in items:
        class_id, student_id = item.school_class.id, item.student.id
        assert class_id is not None and student_id is not None
        if class_id not in reviewers_of_class:
            # The rule (class teachers, else the deputy, else admins) lives in one place; it depends
            # only on the class, so any student of it will do.
            reviewers_of_class[class_id] = await reviewers_for(session, student_id)
        for reviewer_id in reviewers_of_class[class_id]:
            by_reviewer.setdefault(reviewer_id, []).append(item)

    school_day = now.astimezone(tz).date().isoformat()
    keys = {reviewer_id: f"reminder:{reviewer_id}:{school_day}" for reviewer_id in by_reviewer}
    already = await _existing_keys(session, list(keys.values()))
    accounts = await _accounts(session, set(by_reviewer))
    queued = 0
    reminded: set[int] = set()
    for reviewer_id, own in sorted(by_reviewer.items()):
        if keys[reviewer_id] in already or reviewer_id not in accounts:
            continue
        with in_language(accounts[reviewer_id].language, i18n):
            message = _reminder_message(own)
        await outbox.enqueue(session, reviewer_id, "reminder", message, dedup_key=keys[reviewer_id])
        queued += 1
        reminded.update(item.achievement.id for item in own if item.achievement.id is not None)
    if reminded:
        await session.exec(
            update(Achievement)
            .where(col(Achievement.id).in_(reminded), Achievement.status == AchievementStatus.PENDING)
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
    return queued


async def _queue_escalations(session: AsyncSession, items: list[_Overdue], now: datetime, i18n: I18n) -> int:
    """One message per achievement and recipient, the first time it is overdue by ESCALATE_AFTER."""
    recipients_of_level: dict[SchoolLevel, list[Account]] = {}
    teachers_of_class: dict[int, list[Account]] = {}
    queued = 0
    for item in items:
        achievement = item.achievement
        if achievement.escalated_at is not None or achievement.created_at >= now - ESCALATE_AFTER:
            continue
        level = item.school_class.level
        if level not in recipients_of_level:
            recipients_of_level[level] = await _staff(
                session, StaffRole.DEPUTY, StaffAssignment.level == level
            ) or await _staff(session, StaffRole.ADMIN)
        recipients = recipients_of_level[level]
        if not recipients:
            log.warning(
                "nobody to escalate achievement %s to: no deputy of %s, no admin", achievement.id, level
            )
            continue
        claimed = await session.exec(
            update(Achievement)
            .where(
                col(Achievement.id) == achievement.id,
                Achievement.status == AchievementStatus.PENDING,
                col(Achievement.escalated_at).is_(None),
            )
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            continue  # decided, or escalated by someone else, since we looked
        class_id = item.school_class.id
        assert class_id is not None
        if class_id not in teachers_of_class:
            teachers_of_class[class_id] = await _staff(
                session, StaffRole.CLASS_TEACHER, StaffAssignment.class_id == class_id
            )
        for recipient in recipients:
            assert recipient.id is not None
            with in_language(recipient.language, i18n):
                message = _escalation_message(item, teachers_of_class[class_id])
            # Keyed by recipient too: a level may have two deputies, and the fallback is every admin.
            await outbox.enqueue(
                session,
                recipient.id,
                "escalation",
                message,
                dedup_key=f"escalation:{achievement.id}:{recipient.id}",
                student_id=achievement.student_id,
            )
            queued += 1
    return queued


async def send_reminders(session: AsyncSession, now: datetime, *, i18n: I18n, tz: tzinfo) -> ReminderReport:
    """Queue today's reminders and any escalations due at `now` (aware); commits once. Safe to repeat.

    `tz` is the school's zone: it decides which school day a reminder belongs to.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    items = await _overdue(session, now)
    if not items:
        return ReminderReport()
    reminders = await _queue_reminders(session, items, now, i18n, tz)
    escalations = await _queue_escalations(session, items, now, i18n)
    await session.commit()
    if reminders or escalations:
        log.info("queued %d reminders and %d escalations", reminders, escalations)
    return ReminderReport(reminders=reminders, escalations=escalations)
