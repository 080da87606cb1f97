"""Reminders to the class teacher about waiting submissions, and escalations to the deputy.

The clock is explicit: every run passes its `now`. The school is in Moscow (UTC+3), the server in UTC.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.utils.i18n import I18n
from sqlalchemy import update
from sqlmodel import col, select

from bot.services.outbox import NotificationPayload
from bot.services.reminders import ReminderReport, days_text, send_reminders
from models import Account, Achievement, Notification, Student
from models.db import SessionFactory
from models.enums import AchievementStatus, Source, StudentStatus
from tests.factories import School, make_class, make_school, make_student

LOCALES = Path(__file__).resolve().parent.parent / "locales"
SCHOOL_TZ = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 09:00 in Moscow, when the job runs
_numbers = itertools.count(1)


@pytest.fixture
async def school(session_factory: SessionFactory) -> School:
    return await make_school(session_factory)


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n(path=LOCALES, default_locale="ru", domain="messages")


async def pending(
    session_factory: SessionFactory,
    student: Student,
    age: timedelta,
    *,
    status: str = AchievementStatus.PENDING,
) -> Achievement:
    """An achievement submitted `age` before NOW."""
    async with session_factory() as session:
        achievement = Achievement(
            number=f"2026-{next(_numbers):04d}",
            student_id=student.id,
            category="olympiad",
            level="regional",
            result="winner",
            title="Олимпиада <по> математике",
            event_date=date(2026, 2, 1),
            source=Source.OUR_SCHOOL,
            status=status,
            created_at=NOW - age,
            updated_at=NOW - age,
        )
        session.add(achievement)
        await session.commit()
        return achievement


async def run(session_factory: SessionFactory, i18n: I18n, now: datetime = NOW) -> ReminderReport:
    async with session_factory() as session:
        return await send_reminders(session, now, i18n=i18n, tz=SCHOOL_TZ)


async def notifications(session_factory: SessionFactory, kind: str | None = None) -> list[Notification]:
    async with session_factory() as session:
        query = select(Notification).order_by(col(Notification.id))
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return list((await session.exec(query)).all())


def text_of(notification: Notification) -> str:
    return NotificationPayload.model_validate_json(notification.payload).text


async def reload(session_factory: SessionFactory, achievement: Achievement) -> Achievement:
    async with session_factory() as session:
        fresh = await session.get(Achievement, achievement.id)
        assert fresh is not None
        return fresh


async def set_language(session_factory: SessionFactory, account: Account, language: str) -> None:
    async with session_factory() as session:
        await session.exec(update(Account).where(col(Account.id) == account.id).values(language=language))
        await session.commit()


# -- reminders ------------------------------------------------------------------------------------------


async def test_a_submission_pending_two_days_brings_no_reminder(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    achievement = await pending(session_factory, school.students_5a[0], timedelta(days=2))

    assert await run(session_factory, i18n) == ReminderReport(reminders=0, escalations=0)
    assert await notifications(session_factory) == []
    assert (await reload(session_factory, achievement)).reminded_at is None


async def test_pending_over_three_days_reminds_the_class_teacher_once_that_day(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    achievement = await pending(session_factory, school.students_5a[0], timedelta(days=3, hours=1))

    assert await run(session_factory, i18n) == ReminderReport(reminders=1, escalations=0)
    [reminder] = await notifications(session_factory)
    assert reminder.account_id == school.teacher_5a.id
    assert reminder.kind == "reminder"
    assert reminder.dedup_key == f"reminder:{school.teacher_5a.id}:2026-03-10"
    text = text_of(reminder)
    assert "1 достижение ждёт вашей проверки" in text
    assert f"№ {achievement.number} — Иванов Пётр, 5А, 3 дня" in text
    assert "Откройте /pending, чтобы рассмотреть его." in text
    assert (await reload(session_factory, achievement)).reminded_at == NOW

    # Later the same school day (a second run, a restart): nothing new.
    assert await run(session_factory, i18n, NOW + timedelta(hours=8)) == ReminderReport()
    assert len(await notifications(session_factory)) == 1


async def test_the_next_school_day_brings_a_new_reminder(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    await pending(session_factory, school.students_5a[0], timedelta(days=3, hours=1))
    await run(session_factory, i18n)

    # The school day is Moscow's: 20:30 UTC is 23:30 there, 21:30 UTC is already the 11th.
    assert await run(session_factory, i18n, datetime(2026, 3, 10, 20, 30, tzinfo=UTC)) == ReminderReport()
    assert await run(session_factory, i18n, datetime(2026, 3, 10, 21, 30, tzinfo=UTC)) == ReminderReport(
        reminders=1
    )
    assert await run(session_factory, i18n, NOW + timedelta(days=1)) == ReminderReport()
    assert await run(session_factory, i18n, NOW + timedelta(days=2)) == ReminderReport(reminders=1)
    reminders = await notifications(session_factory)
    assert [n.dedup_key for n in reminders] == [
        f"reminder:{school.teacher_5a.id}:{day}" for day in ("2026-03-10", "2026-03-11", "2026-03-12")
    ]
    assert "5 дней" in text_of(reminders[2])


async def test_two_overdue_items_make_one_message_naming_the_oldest(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    oldest = await pending(session_factory, school.students_5a[1], timedelta(days=5, hours=2))
    newer = await pending(session_factory, school.students_5a[0], timedelta(days=4))
    await pending(session_factory, school.students_5a[0], timedelta(days=1))  # not overdue yet

    assert await run(session_factory, i18n) == ReminderReport(reminders=1)
    [reminder] = await notifications(session_factory)
    text = text_of(reminder)
    assert "2 достижения ждут вашей проверки" in text
    assert f"Самое давнее — № {oldest.number}, ждёт уже 5 дней." in text
    assert f"№ {newer.number} — Иванов Пётр, 5А, 4 дня" in text
    assert text.index(oldest.number) < text.index(newer.number)
    assert "Откройте /pending, чтобы их рассмотреть." in text


async def test_a_long_queue_lists_the_oldest_ten_and_counts_the_rest(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    items = [
        await pending(session_factory, school.students_5a[0], timedelta(days=4, hours=12 - hour))
        for hour in range(12)
    ]

    await run(session_factory, i18n)
    [reminder] = await notifications(session_factory, "reminder")
    text = text_of(reminder)
    assert "12 достижений ждут вашей проверки" in text
    assert all(item.number in text for item in items[:10])
    assert not any(item.number in text for item in items[10:])
    assert "…и ещё 2." in text


async def test_each_class_teacher_hears_only_about_their_class(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    in_5a = await pending(session_factory, school.students_5a[0], timedelta(days=4))
    in_5b = await pending(session_factory, school.students_5b[0], timedelta(days=4))

    assert await run(session_factory, i18n) == ReminderReport(reminders=2)
    by_account = {n.account_id: text_of(n) for n in await notifications(session_factory)}
    assert set(by_account) == {school.teacher_5a.id, school.teacher_5b.id}
    assert in_5a.number in by_account[school.teacher_5a.id]
    assert in_5b.number not in by_account[school.teacher_5a.id]
    assert in_5b.number in by_account[school.teacher_5b.id]


async def test_a_class_without_a_class_teacher_reminds_the_deputy(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    async with session_factory() as session:
        class_6v = await make_class(session, 6, "В")
        student = await make_student(session, class_6v, "Соколов", "Дмитрий")
        await session.commit()
    achievement = await pending(session_factory, student, timedelta(days=3, hours=1))

    assert await run(session_factory, i18n) == ReminderReport(reminders=1)
    [reminder] = await notifications(session_factory)
    assert reminder.account_id == school.deputy.id
    assert f"№ {achievement.number} — Соколов Дмитрий, 6В, 3 дня" in text_of(reminder)


async def test_decided_submissions_are_not_reminded(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    for status in (AchievementStatus.APPROVED, AchievementStatus.REJECTED, AchievementStatus.WITHDRAWN):
        await pending(session_factory, school.students_5a[0], timedelta(days=9), status=status)

    assert await run(session_factory, i18n) == ReminderReport()
    assert await notifications(session_factory) == []


async def test_a_student_who_left_brings_no_reminder_nor_escalation(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    """Nobody may review the submission of a student who left (/pending doesn't list it): no nagging."""
    leaver, staying = school.students_5a
    await pending(session_factory, leaver, timedelta(days=9))
    kept = await pending(session_factory, staying, timedelta(days=4))
    async with session_factory() as session:
        await session.exec(
            update(Student).where(col(Student.id) == leaver.id).values(status=StudentStatus.LEFT)
        )
        await session.commit()

    assert await run(session_factory, i18n) == ReminderReport(reminders=1, escalations=0)
    [reminder] = await notifications(session_factory)
    assert "1 достижение ждёт вашей проверки" in text_of(reminder)
    assert f"№ {kept.number} — Смирнова Анна" in text_of(reminder)


# -- escalations ----------------------------------------------------------------------------------------


async def test_pending_over_a_week_is_escalated_to_the_deputy_once(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    achievement = await pending(session_factory, school.students_5a[0], timedelta(days=8))

    assert await run(session_factory, i18n) == ReminderReport(reminders=1, escalations=1)
    [escalation] = await notifications(session_factory, "escalation")
    assert escalation.account_id == school.deputy.id
    assert escalation.dedup_key == f"escalation:{achievement.id}:{school.deputy.id}"
    text = text_of(escalation)
    assert f"Достижение № {achievement.number} ждёт проверки уже 8 дней" in text
    assert "Ученик: Иванов Пётр, 5А" in text
    assert "Олимпиада &lt;по&gt; математике" in text  # user text is escaped for HTML
    assert "Классный руководитель: Елена Петровна" in text
    [reminder] = await notifications(session_factory, "reminder")
    assert reminder.account_id == school.teacher_5a.id
    assert (await reload(session_factory, achievement)).escalated_at == NOW

    # Again that day, and the next days: the teacher is reminded daily, the deputy told only once.
    assert await run(session_factory, i18n, NOW + timedelta(hours=1)) == ReminderReport()
    assert await run(session_factory, i18n, NOW + timedelta(days=1)) == ReminderReport(reminders=1)
    assert await run(session_factory, i18n, NOW + timedelta(days=2)) == ReminderReport(reminders=1)
    assert len(await notifications(session_factory, "escalation")) == 1
    assert (await reload(session_factory, achievement)).escalated_at == NOW


async def test_seven_days_are_not_yet_escalated(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    await pending(session_factory, school.students_5a[0], timedelta(days=7))

    assert await run(session_factory, i18n) == ReminderReport(reminders=1, escalations=0)


async def test_without_a_deputy_of_the_level_the_admins_get_the_escalation(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    async with session_factory() as session:
        class_10a = await make_class(session, 10, "А")
        student = await make_student(session, class_10a, "Волков", "Артём")
        await session.commit()
    await pending(session_factory, student, timedelta(days=21, hours=3))

    assert await run(session_factory, i18n) == ReminderReport(reminders=1, escalations=1)
    [escalation] = await notifications(session_factory, "escalation")
    assert escalation.account_id == school.admin.id
    text = text_of(escalation)
    assert "ждёт проверки уже 21 день" in text
    assert "Классный руководитель не назначен." in text
    # Without a class teacher or a deputy, the admin is the reviewer too.
    [reminder] = await notifications(session_factory, "reminder")
    assert reminder.account_id == school.admin.id


# -- language -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "russian", "english"),
    [
        (1, "1 день", "1 day"),
        (2, "2 дня", "2 days"),
        (5, "5 дней", "5 days"),
        (11, "11 дней", "11 days"),
        (21, "21 день", "21 days"),
        (22, "22 дня", "22 days"),
    ],
)
def test_days_take_the_right_plural_form(i18n: I18n, days: int, russian: str, english: str) -> None:
    with i18n.context(), i18n.use_locale("ru"):
        assert days_text(days) == russian
    with i18n.context(), i18n.use_locale("en"):
        assert days_text(days) == english


async def test_each_recipient_reads_their_own_language(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    await set_language(session_factory, school.teacher_5a, "en")
    achievement = await pending(session_factory, school.students_5a[0], timedelta(days=8))
    await pending(session_factory, school.students_5a[1], timedelta(days=5))

    await run(session_factory, i18n)
    [reminder] = await notifications(session_factory, "reminder")
    text = text_of(reminder)
    assert "2 achievements are waiting for your review" in text
    assert f"The oldest, No. {achievement.number}, has been waiting for 8 days." in text
    assert "/pending" in text
    assert "достижени" not in text
    # The deputy kept Russian.
    [escalation] = await notifications(session_factory, "escalation")
    assert "ждёт проверки уже 8 дней" in text_of(escalation)


async def test_an_unknown_language_falls_back_to_the_schools(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    await set_language(session_factory, school.teacher_5a, "de")
    await pending(session_factory, school.students_5a[0], timedelta(days=4))

    await run(session_factory, i18n)
    [reminder] = await notifications(session_factory)
    assert "1 достижение ждёт вашей проверки" in text_of(reminder)


async def test_a_naive_now_is_refused(session_factory: SessionFactory, school: School, i18n: I18n) -> None:
    with pytest.raises(ValueError, match="aware"):
        await run(session_factory, i18n, NOW.replace(tzinfo=None))
