"""The weekly digest: its weeks, its content per scope, exactly-once delivery through the outbox, the
catch-up after downtime. The server's zone is UTC and the school's Europe/Moscow throughout."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.utils.i18n import I18n
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.__main__ import main
from bot.background import Background
from bot.config import Settings
from bot.migrate import upgrade_database
from bot.scheduler import DIGEST_JOB_ID
from bot.services import backup as backup_service
from bot.services import digest as digest_service
from bot.services.digest import Period, parse_period, recipients, run_digest, scope_title_of_key
from bot.services.digest_content import achievements_text, coverage_text
from bot.services.outbox import NotificationPayload
from bot.services.sender import OutboxSender
from models import (
    Account,
    Achievement,
    AuditEvent,
    DigestDelivery,
    GuardianLink,
    Notification,
    ResultsRequest,
    Reward,
    SchoolClass,
    Student,
)
from models.db import SessionFactory, create_engine, create_session_factory
from models.enums import AchievementStatus, GuardianLinkStatus, OutboxStatus, Source, StaffRole, StudentStatus
from tests import harness
from tests.factories import School, assign, make_account, make_class, make_school, make_student
from tests.harness import BotHarness
from tests.telegram_server import TelegramServer
from tests.tg_users import FakeUser

LOCALES = Path(__file__).resolve().parent.parent / "locales"
MOSCOW = ZoneInfo("Europe/Moscow")
W49 = Period(2026, 49)  # Monday 30 November – Sunday 6 December 2026
DUE = datetime(2026, 12, 7, 8, 0, tzinfo=MOSCOW)  # the Monday after, 08:00 school time


@pytest.fixture(autouse=True)
def server_in_utc() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n(path=LOCALES, default_locale="ru", domain="messages")


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}",
        media_dir=tmp_path / "media",
        school_name="МБОУ «Школа № 1»",
        timezone="Europe/Moscow",
    )


def moscow(day: int, hour: int = 12, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=MOSCOW)


async def add_achievement(
    session_factory: SessionFactory,
    student: Student,
    number: str,
    created: datetime,
    *,
    status: AchievementStatus = AchievementStatus.PENDING,
    decided: datetime | None = None,
    level: str = "school",
    result: str = "participant",
    category: str = "olympiad",
) -> None:
    async with session_factory() as session:
        session.add(
            Achievement(
                number=number,
                student_id=student.id,
                category=category,
                level=level,
                result=result,
                title=f"Конкурс {number}",
                event_date=created.date(),
                source=Source.OUR_SCHOOL,
                status=status,
                decided_at=decided,
                created_at=created,
            )
        )
        await session.commit()


async def week_of_activity(session_factory: SessionFactory, school: School) -> None:
    """Week 49 in 5А and 5Б, with activity just before and after it that it must not count."""
    peter, anna = school.students_5a
    ilya, maria = school.students_5b
    approved, rejected = AchievementStatus.APPROVED, AchievementStatus.REJECTED
    await add_achievement(
        session_factory, peter, "2026-0001", moscow(1), status=approved, decided=moscow(2),
        level="regional", result="winner",
    )  # fmt: skip
    await add_achievement(session_factory, anna, "2026-0002", moscow(2))
    await add_achievement(session_factory, peter, "2026-0003", moscow(20, month=11))  # still pending
    # Submitted the week before, rejected in week 49.
    await add_achievement(
        session_factory, anna, "2026-0004", moscow(28, month=11), status=rejected, decided=moscow(4)
    )
    await add_achievement(session_factory, anna, "2026-0005", moscow(7, hour=1))  # the next week
    # Monday 00:30 Moscow is still Sunday in UTC: it belongs to week 49 all the same.
    await add_achievement(
        session_factory, peter, "2026-0006", moscow(30, hour=0, month=11) + timedelta(minutes=30)
    )
    await add_achievement(
        session_factory, ilya, "2026-0007", moscow(1), status=approved, decided=moscow(1),
        level="national", result="prize_winner", category="sport",
    )  # fmt: skip
    await add_achievement(session_factory, maria, "2026-0008", moscow(25, month=11))
    async with session_factory() as session:
        session.add(
            Reward(
                student_id=anna.id,
                kind="certificate",
                reason="За олимпиаду",
                granted_on=date(2026, 12, 2),
                created_at=moscow(2),
            )
        )
        session.add(
            ResultsRequest(
                number="2026-0001", student_id=maria.id, scope="current_year", created_at=moscow(3)
            )
        )
        guardian = await session.get(Account, school.guardian.id)
        guardian.reachable = False  # Ольга Иванова, Пётр's mother, blocked the bot
        other = await make_account(session, "Дарья Попова")
        other.reachable = False
        session.add(
            GuardianLink(account_id=other.id, student_id=maria.id, status=GuardianLinkStatus.CONFIRMED)
        )
        await session.commit()


async def queued_digests(session_factory: SessionFactory) -> dict[int, NotificationPayload]:
    async with session_factory() as session:
        rows = (await session.exec(select(Notification).where(Notification.kind == "digest"))).all()
    return {row.account_id: NotificationPayload.model_validate_json(row.payload) for row in rows}


async def deliveries(session_factory: SessionFactory) -> list[DigestDelivery]:
    async with session_factory() as session:
        return list(
            (await session.exec(select(DigestDelivery).order_by(col(DigestDelivery.account_id)))).all()
        )


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


# -- weeks and words ----------------------------------------------------------------------------------------


def test_weeks_are_iso_weeks_in_the_school_zone() -> None:
    assert (W49.key, W49.first_day, W49.last_day) == ("2026-W49", date(2026, 11, 30), date(2026, 12, 6))
    assert W49.start(MOSCOW) == datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert W49.end(MOSCOW) == datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
    # Sunday 22:30 UTC is already Monday in Moscow: «this week» is the new one.
    sunday_night = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)
    assert parse_period("this-week", sunday_night, MOSCOW) == Period(2026, 50)
    assert parse_period("last-week", sunday_night, MOSCOW) == W49
    assert parse_period("2026-w49", sunday_night, MOSCOW) == W49
    assert parse_period("last-week", datetime(2027, 1, 5, tzinfo=UTC), MOSCOW) == Period(2026, 53)
    assert Period(2026, 1).previous() == Period(2025, 52)
    for wrong in ("2027-W53", "2026-W00", "last week", "2026-49"):
        with pytest.raises(ValueError):
            parse_period(wrong, sunday_night, MOSCOW)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (1, "1 достижение"),
        (2, "2 достижения"),
        (5, "5 достижений"),
        (21, "21 достижение"),
        (111, "111 достижений"),
    ],
)
def test_russian_plural_forms(i18n: I18n, count: int, text: str) -> None:
    with i18n.context(), i18n.use_locale("ru"):
        assert achievements_text(count) == text


@pytest.mark.parametrize(
    ("linked", "students", "locale", "text"),
    [
        (1, 1, "ru", "Родители подключены у 1 из 1 ученика (100%)."),
        (2, 4, "ru", "Родители подключены у 2 из 4 учеников (50%)."),
        (3, 11, "ru", "Родители подключены у 3 из 11 учеников (27%)."),
        (7, 21, "ru", "Родители подключены у 7 из 21 ученика (33%)."),
        (0, 25, "ru", "Родители подключены у 0 из 25 учеников (0%)."),
        (1, 1, "en", "Parents connected for 1 of 1 student (100%)."),
        (2, 21, "en", "Parents connected for 2 of 21 students (10%)."),
    ],
)
def test_coverage_counts_students_in_the_right_form(
    i18n: I18n, linked: int, students: int, locale: str, text: str
) -> None:
    with i18n.context(), i18n.use_locale(locale):
        assert coverage_text(linked, students) == text


# -- content ------------------------------------------------------------------------------------------------


async def test_each_scope_gets_its_counts_in_the_message_and_the_pdf(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    school = await make_school(session_factory)
    await week_of_activity(session_factory, school)
    settings = settings_for(tmp_path)

    run = await run_digest(session_factory, settings, W49, DUE, i18n=i18n)

    assert (run.queued, run.skipped) == (4, 0)  # admin, deputy, two class teachers; not the coach
    messages = await queued_digests(session_factory)
    assert set(messages) == {school.teacher_5a.id, school.teacher_5b.id, school.deputy.id, school.admin.id}
    rows = {row.account_id: row for row in await deliveries(session_factory)}
    assert {account: row.scope for account, row in rows.items()} == {
        school.teacher_5a.id: f"class:{school.class_5a.id}",
        school.teacher_5b.id: f"class:{school.class_5b.id}",
        school.deputy.id: "level:ooo",
        school.admin.id: "school",
    }
    assert all(row.period == "2026-W49" and row.sent_at == DUE for row in rows.values())

    school_text = messages[school.admin.id].text
    assert "Сводка за неделю 30.11.2026 – 06.12.2026" in school_text
    assert "Новых: 4 достижения; одобрено: 2, отклонено: 1." in school_text
    assert "Ждут проверки: 4, самое давнее — 16 дней (5А)." in school_text
    assert "Значимые результаты: 2. Поощрения: 1. Запросы результатов: 1." in school_text
    assert "Родители подключены у 2 из 4 учеников (50%)." in school_text
    assert "Бот не может написать: 2." in school_text
    school_pdf = pdf_text(settings.media_dir / rows[school.admin.id].pdf_path)
    for line in [
        "Охват: Вся школа",
        "Подано за неделю: 4",
        "Одобрено: 2",
        "Отклонено: 1",
        "Ждут проверки: 4",
        "Самое давнее: № 2026-0003, 5А, дней: 16",
        "Родители подключены: 2 из 4",
        "5А 2 1 (50%) 3 1 1 3 16",
        "5Б 2 1 (50%) 1 1 0 1 11",
        "Предметная олимпиада · · 1 · · · 1",
        "Спортивное соревнование · · · · 1 · 1",
        "2026-0001 Иванов Пётр 5А",
        "2026-0007 Кузнецов Илья 5Б",
        "Значимые результаты: 2",
        "Поощрения: 1",
        "Запросы результатов: 1",
        "Бот не может написать: 2",
    ]:
        assert line in school_pdf, line
    # The deputy's level is the whole school here: the same numbers.
    assert messages[school.deputy.id].text.replace("Уровень ООО", "Вся школа") == school_text


async def test_a_class_teachers_digest_names_no_child_of_another_class(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    school = await make_school(session_factory)
    await week_of_activity(session_factory, school)
    settings = settings_for(tmp_path)
    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)

    rows = {row.account_id: row for row in await deliveries(session_factory)}
    messages = await queued_digests(session_factory)
    text_5a = messages[school.teacher_5a.id].text
    assert "Класс 5А" in text_5a
    assert "Новых: 3 достижения; одобрено: 1, отклонено: 1." in text_5a
    assert "Ждут проверки: 3, самое давнее — 16 дней (5А)." in text_5a
    pdf_5a = pdf_text(settings.media_dir / rows[school.teacher_5a.id].pdf_path)
    assert rows[school.teacher_5a.id].pdf_path == "digests/2026-W49/ru/digest-2026-W49-5А.pdf"
    for seen in ("Иванов Пётр", "Смирнова Анна", "Ольга Иванова", "Поощрения: 1", "Запросы результатов: 0"):
        assert seen in pdf_5a, seen
    for other in [*school.students_5b, "Дарья Попова", "5Б"]:
        name = other if isinstance(other, str) else other.surname
        assert name not in pdf_5a and name not in text_5a, name
    # …and 5Б's teacher sees none of 5А.
    pdf_5b = pdf_text(settings.media_dir / rows[school.teacher_5b.id].pdf_path)
    assert "Попова Мария" in pdf_5b and "Дарья Попова" in pdf_5b
    assert not any(s.surname in pdf_5b for s in school.students_5a) and "Ольга" not in pdf_5b
    # Every child named went into the audit log, as shown to that recipient.
    async with session_factory() as session:
        audited = (
            await session.exec(
                select(AuditEvent.student_id).where(
                    AuditEvent.action == "digest_sent", AuditEvent.actor_account_id == school.teacher_5a.id
                )
            )
        ).all()
    assert set(audited) == {s.id for s in school.students_5a}


async def test_each_reader_gets_the_reward_kinds_in_their_own_language(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    school = await make_school(session_factory)
    await week_of_activity(session_factory, school)  # 5А's Анна got a «Грамота»
    async with session_factory() as session:
        admin = await session.get(Account, school.admin.id)
        admin.language = "en"
        await session.commit()
    settings = settings_for(tmp_path)
    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)

    rows = {row.account_id: row for row in await deliveries(session_factory)}
    admin_pdf = pdf_text(settings.media_dir / rows[school.admin.id].pdf_path)
    teacher_pdf = pdf_text(settings.media_dir / rows[school.teacher_5a.id].pdf_path)
    assert rows[school.admin.id].pdf_path.startswith("digests/2026-W49/en/")
    assert "Certificate of merit" in admin_pdf and "Грамота" not in admin_pdf
    assert "Грамота" in teacher_pdf and "Certificate" not in teacher_pdf


async def test_a_dry_run_only_writes_the_pdfs(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    await make_school(session_factory)
    settings = settings_for(tmp_path)
    run = await run_digest(session_factory, settings, W49, DUE, i18n=i18n, dry_run=True)
    assert run.queued == 0
    assert sorted(path.name for path in run.pdfs) == [
        "digest-2026-W49-5А.pdf", "digest-2026-W49-5Б.pdf", "digest-2026-W49-ooo.pdf", "digest-2026-W49-school.pdf"
    ]  # fmt: skip
    assert all(path.is_file() and path.is_relative_to(settings.media_dir) for path in run.pdfs)
    assert await deliveries(session_factory) == [] and await queued_digests(session_factory) == {}


# -- delivery -----------------------------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[TelegramServer]:
    async with TelegramServer() as running:
        yield running


@pytest.fixture
async def tg_bot(server: TelegramServer) -> AsyncIterator[Bot]:
    bot = Bot(server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    yield bot
    await bot.session.close()


@dataclass
class Staff:
    users: list[FakeUser]  # in the order of their accounts: the order the digests are queued
    account_ids: list[int]


async def administrators(session_factory: SessionFactory, server: TelegramServer, count: int) -> Staff:
    """A class of one student, and `count` administrators who are real users of the server (one scope, so
    one PDF for them all)."""
    users, ids = [], []
    async with session_factory() as session:
        await make_student(session, await make_class(session, 5, "А"), "Иванов", "Пётр")
        for number in range(count):
            user = server.user(started=True)
            account = await make_account(session, f"Администратор {number}", telegram_id=user.id)
            await assign(session, account, StaffRole.ADMIN)
            users.append(user)
            ids.append(account.id)
        await session.commit()
    return Staff(users, ids)


def documents_to(server: TelegramServer, user: FakeUser) -> list[str]:
    return [m.caption or "" for m in server.sent_to(user.id) if m.kind == "document"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_a_second_run_for_the_same_week_sends_nothing(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, tmp_path: Path, i18n: I18n
) -> None:
    staff = await administrators(session_factory, server, 3)
    settings = settings_for(tmp_path)
    clock = FakeClock()
    sender = OutboxSender(clock=clock, sleep=clock.sleep)

    first = await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    assert await sender.run_once(tg_bot, session_factory, settings.media_dir, DUE) == 3
    second = await run_digest(session_factory, settings, W49, DUE + timedelta(hours=1), i18n=i18n)
    assert await sender.run_once(tg_bot, session_factory, settings.media_dir, DUE + timedelta(hours=1)) == 0

    assert (first.queued, second.queued, second.skipped, second.pdfs) == (3, 0, 3, [])
    assert [len(documents_to(server, user)) for user in staff.users] == [1, 1, 1]
    assert "Сводка за неделю 30.11.2026 – 06.12.2026" in documents_to(server, staff.users[0])[0]
    assert len(await deliveries(session_factory)) == 3
    # The next week is a new digest.
    assert (
        await run_digest(session_factory, settings, Period(2026, 50), DUE + timedelta(days=7), i18n=i18n)
    ).queued == 3


async def test_a_recipient_who_blocked_the_bot_is_recorded_and_the_rest_get_theirs(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, tmp_path: Path, i18n: I18n
) -> None:
    staff = await administrators(session_factory, server, 6)
    staff.users[2].block()
    settings = settings_for(tmp_path)
    clock = FakeClock()

    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    delivered = await OutboxSender(clock=clock, sleep=clock.sleep).run_once(
        tg_bot, session_factory, settings.media_dir, DUE
    )

    assert delivered == 5
    assert [len(documents_to(server, user)) for user in staff.users] == [1, 1, 0, 1, 1, 1]
    assert [row.account_id for row in await deliveries(session_factory)] == staff.account_ids
    async with session_factory() as session:
        blocked = await session.get(Account, staff.account_ids[2])
        statuses = dict((await session.exec(select(Notification.account_id, Notification.status))).all())
    assert blocked is not None and not blocked.reachable
    assert [statuses[account] for account in staff.account_ids] == [OutboxStatus.SENT] * 2 + [
        OutboxStatus.FAILED
    ] + [OutboxStatus.SENT] * 3


async def test_a_flood_wait_on_the_25th_message_is_honoured_and_everyone_gets_one_copy(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, tmp_path: Path, i18n: I18n
) -> None:
    staff = await administrators(session_factory, server, 30)
    settings = settings_for(tmp_path)
    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    server.flood_after(24, retry_after=1)
    sender = OutboxSender()  # real time: the server's flood window is real

    first = await sender.run_once(tg_bot, session_factory, settings.media_dir, DUE)
    second = await sender.run_once(tg_bot, session_factory, settings.media_dir, DUE + timedelta(seconds=5))

    assert (first, second) == (29, 1)
    assert [len(documents_to(server, user)) for user in staff.users] == [1] * 30
    calls = server.calls("sendDocument")
    assert [call.status for call in calls].count(429) == 1  # nothing was sent into the wait
    flooded = next(index for index, call in enumerate(calls) if call.status == 429)
    assert flooded == 24
    assert calls[flooded + 1].timestamp - calls[flooded].timestamp >= 1.0


# -- scheduling ---------------------------------------------------------------------------------------------


async def test_the_next_digest_is_on_monday_at_eight_school_time(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    with time_machine.travel(moscow(2), tick=True):  # a Wednesday
        await make_school(session_factory)
        background = Background(settings_for(tmp_path), session_factory, i18n)
        bot = Bot("123456:TEST")
        try:
            await background.start(bot)
            for _ in range(500):  # the start-up run: week 48 fell due on Monday, before anyone had a role
                if background.last_digest is not None:
                    break
                await asyncio.sleep(0.01)
            assert background.last_digest is not None and background.last_digest.period == Period(2026, 48)
            assert background.last_digest.queued == 0
            assert background.scheduler is not None
            job = background.scheduler.get_job(DIGEST_JOB_ID)
            assert job.next_run_time == DUE
            assert job.next_run_time.astimezone(UTC) == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
        finally:
            await background.stop()
            await bot.session.close()
    assert await deliveries(session_factory) == []


async def test_a_digest_missed_while_the_bot_was_down_is_sent_once_after_the_start(tmp_path: Path) -> None:
    traveller = time_machine.travel(DUE - timedelta(minutes=10), tick=True)
    clock = traveller.start()
    try:
        async with TelegramServer() as server:
            settings = harness.test_settings(server, tmp_path)
            await asyncio.to_thread(upgrade_database, settings.database_url)
            engine = create_engine(settings.database_url)
            school = await make_school(create_session_factory(engine))
            users = {}
            async with create_session_factory(engine)() as session:
                for account in (school.teacher_5a, school.teacher_5b, school.deputy, school.admin):
                    user = server.user(started=True)
                    (await session.get(Account, account.id)).telegram_id = user.id
                    users[account.id] = user
                await session.commit()
            await engine.dispose()
            bot = BotHarness(server, settings)
            await bot.start()  # 07:50: nothing is due yet
            clock.move_to(DUE - timedelta(minutes=1))
            await bot.stop()  # 07:59
            clock.move_to(DUE + timedelta(minutes=3))
            await bot.start()  # 08:03: week 49 fell due at 08:00
            for _ in range(1000):
                if all(documents_to(server, user) for user in users.values()):
                    break
                await asyncio.sleep(0.01)
            await bot.restart()  # a restart later the same morning sends nothing new
            await asyncio.sleep(0.5)
            rows = await deliveries(bot.session_factory)
            await bot.stop()
    finally:
        traveller.stop()

    for user in users.values():
        [caption] = documents_to(server, user)
        assert "Сводка за неделю 30.11.2026 – 06.12.2026" in caption
    assert [(row.account_id, row.period) for row in rows] == [
        (account, "2026-W49") for account in sorted(users)
    ]
    assert all(DUE <= row.created_at <= DUE + timedelta(minutes=5) for row in rows)


async def test_a_person_with_several_roles_gets_one_digest_of_everything_they_oversee(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    school = await make_school(session_factory)
    async with session_factory() as session:
        class_10a = await make_class(session, 10, "А")
        deputy = await session.get(Account, school.deputy.id)
        await assign(
            session, deputy, StaffRole.CLASS_TEACHER, school_class=class_10a
        )  # ООО's deputy leads 10А
        admin = await session.get(Account, school.admin.id)
        await assign(session, admin, StaffRole.CLASS_TEACHER, school_class=school.class_5b)
        await session.commit()
        found = {r.account.id: r.scope for r in await recipients(session, DUE + timedelta(days=1))}
    assert found[school.deputy.id].key == f"level:ooo;class:{class_10a.id}"
    assert found[school.deputy.id].title() == "Уровень ООО, класс 10А"
    assert [c.label for c in found[school.deputy.id].classes] == ["5А", "5Б", "10А"]
    assert found[school.admin.id].key == "school"  # the whole school includes 5Б
    run = await run_digest(session_factory, settings_for(tmp_path), W49, DUE + timedelta(days=1), i18n=i18n)
    assert run.queued == 4
    assert len(await queued_digests(session_factory)) == 4


def test_the_command_writes_the_pdfs_on_a_dry_run_and_refuses_a_wrong_week(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    assert main(["digest", "--now", "--period", "2026-W60"]) == 2
    assert "2026-W60" in capsys.readouterr().err

    async def school() -> None:
        engine = create_engine(database_url)
        await make_school(create_session_factory(engine))
        await engine.dispose()

    upgrade_database(database_url)
    asyncio.run(school())
    assert main(["digest", "--now", "--period", "2026-W49", "--dry-run"]) == 0
    out = capsys.readouterr().out
    paths = [Path(line.removeprefix("PDF: ")) for line in out.splitlines() if line.startswith("PDF: ")]
    assert sorted(p.name for p in paths) == [
        "digest-2026-W49-5А.pdf", "digest-2026-W49-5Б.pdf", "digest-2026-W49-ooo.pdf", "digest-2026-W49-school.pdf"
    ]  # fmt: skip
    assert all(p.is_file() for p in paths)
    assert "Пробный запуск: сводка 2026-W49 никому не отправлена." in out


async def test_two_teachers_whose_long_scope_keys_share_a_beginning_get_their_own_classes(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    """The stored scope is cut to its column's length; the digests must still be built per whole scope."""
    async with session_factory() as session:
        classes = []
        for number, grade in enumerate(range(1, 8), start=1001):
            school_class = SchoolClass(id=number, grade=grade, letter="А")
            session.add(school_class)
            classes.append(school_class)
        await session.flush()
        pupils = [await make_student(session, c, f"Ученик{c.grade}", "Имя") for c in classes]
        first, second = await make_account(session, "Первый"), await make_account(session, "Второй")
        for school_class in classes[:6]:
            await assign(session, first, StaffRole.CLASS_TEACHER, school_class=school_class)
        for school_class in [*classes[:5], classes[6]]:
            await assign(session, second, StaffRole.CLASS_TEACHER, school_class=school_class)
        await session.commit()
    for pupil in pupils:
        await add_achievement(
            session_factory, pupil, f"2026-{pupil.id:04d}", moscow(1), status=AchievementStatus.APPROVED,
            decided=moscow(2), level="regional", result="winner",
        )  # fmt: skip
    settings = settings_for(tmp_path)
    run = await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    assert run.queued == 2
    rows = {row.account_id: row for row in await deliveries(session_factory)}
    first_pdf = pdf_text(settings.media_dir / rows[first.id].pdf_path)
    second_pdf = pdf_text(settings.media_dir / rows[second.id].pdf_path)
    assert "Ученик6 Имя" in first_pdf and "Ученик7" not in first_pdf
    assert "Ученик7 Имя" in second_pdf and "Ученик6" not in second_pdf


async def test_a_backup_taken_while_a_pdf_is_written_skips_the_unfinished_file(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_school(session_factory)
    settings = settings_for(tmp_path)
    listed_while_writing: list[Path] = []
    replace = os.replace

    def backup_lists_then_replace(source: str, target: Path) -> None:
        listed_while_writing.extend(backup_service._media_files(settings.media_dir))
        replace(source, target)

    monkeypatch.setattr(digest_service.os, "replace", backup_lists_then_replace)
    run = await run_digest(session_factory, settings, W49, DUE, i18n=i18n, dry_run=True)
    assert len(run.pdfs) == 4
    assert listed_while_writing and all(path in run.pdfs for path in listed_while_writing)


@pytest.mark.parametrize(
    ("key", "title"),
    [
        ("school", "Вся школа"),
        ("level:ooo", "Уровень ООО"),
        ("level:noo+soo;class:7", "Уровень НОО, СОО, класс 10Б"),
        ("class:3+7", "Классы 5А, 10Б"),
        ("class:3+7+12", "Классы 5А, 10Б, ?"),  # a class since removed
        ("level:ooo;class:3+1", "Уровень ООО, классы 5А, ?"),  # cut short at 32 characters
        ("something-else", "something-else"),
    ],
)
def test_a_stored_digest_scope_reads_as_its_title(key: str, title: str) -> None:
    assert scope_title_of_key(key, {3: "5А", 7: "10Б"}) == title


async def test_a_pending_submission_of_a_student_who_left_is_not_waiting_for_anyone(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    """Nobody may review it any more (/pending doesn't list it): the digest doesn't count it as waiting."""
    school = await make_school(session_factory)
    peter, anna = school.students_5a
    await add_achievement(session_factory, peter, "2026-0001", moscow(20, month=11))  # the older one
    await add_achievement(session_factory, anna, "2026-0002", moscow(25, month=11))
    async with session_factory() as session:
        (await session.get(Student, peter.id)).status = StudentStatus.LEFT
        await session.commit()
    settings = settings_for(tmp_path)
    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    rows = {row.account_id: row for row in await deliveries(session_factory)}
    text = (await queued_digests(session_factory))[school.teacher_5a.id].text
    assert "Ждут проверки: 1, самое давнее — 11 дней (5А)." in text
    pdf = pdf_text(settings.media_dir / rows[school.teacher_5a.id].pdf_path)
    assert "Самое давнее: № 2026-0002, 5А, дней: 11" in pdf and "2026-0001" not in pdf


async def test_a_dry_run_after_the_digest_went_out_leaves_the_sent_pdfs_as_they_were(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    school = await make_school(session_factory)
    settings = settings_for(tmp_path)
    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    sent = {row.account_id: settings.media_dir / row.pdf_path for row in await deliveries(session_factory)}
    before = {account: path.read_bytes() for account, path in sent.items()}
    await add_achievement(session_factory, school.students_5a[0], "2026-0001", moscow(3))  # a late change

    preview = await run_digest(
        session_factory, settings, W49, DUE + timedelta(days=2), i18n=i18n, dry_run=True
    )

    assert {account: path.read_bytes() for account, path in sent.items()} == before
    assert len(preview.pdfs) == 4 and not set(preview.pdfs) & set(sent.values())
    assert all(path.is_file() for path in preview.pdfs)
    assert "Подано за неделю: 1" in pdf_text(next(p for p in preview.pdfs if p.name.endswith("-5А.pdf")))


async def test_opening_a_sent_digests_pdf_in_the_admin_is_on_the_register_of_each_child_it_names(
    session_factory: SessionFactory, engine: AsyncEngine, tmp_path: Path, i18n: I18n
) -> None:
    from tests.admin_support import PUBLIC_URL, admin_client, sign_in

    school = await make_school(session_factory)
    await week_of_activity(session_factory, school)
    settings = settings_for(tmp_path).model_copy(update={"admin_public_url": PUBLIC_URL})
    await run_digest(session_factory, settings, W49, DUE, i18n=i18n)
    async with session_factory() as session:
        # Another week's digest of the same class teacher named a child of 5Б: not this PDF's.
        session.add(
            AuditEvent(
                action="digest_sent",
                channel="system",
                actor_account_id=school.teacher_5a.id,
                student_id=school.students_5b[0].id,
                object_type="digest",
                object_id="2026-W48",
            )
        )
        await session.commit()
    rows = {row.account_id: row for row in await deliveries(session_factory)}

    async def downloaded(reader: Account, delivery: DigestDelivery) -> list[int | None]:
        client = admin_client(settings, engine)
        await sign_in(client, session_factory, reader)
        response = await client.get(f"/admin/digest-delivery/{delivery.id}/pdf")
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
        async with session_factory() as session:
            found = (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == "digest_downloaded", AuditEvent.actor_account_id == reader.id
                    )
                )
            ).all()
        assert {(e.channel, e.object_type, e.object_id) for e in found} == {
            ("web", "digest", str(delivery.id))
        }
        return sorted(found_row.student_id or 0 for found_row in found)

    async def named(recipient: Account) -> list[int]:
        async with session_factory() as session:
            sent = await session.exec(
                select(AuditEvent.student_id).where(
                    AuditEvent.action == "digest_sent",
                    AuditEvent.object_id == W49.key,
                    AuditEvent.actor_account_id == recipient.id,
                )
            )
            return sorted(s for s in sent.all() if s is not None)

    # The administrator opens 5А's class teacher's digest: 5А's children, one row each, and the digest.
    teachers = await downloaded(school.admin, rows[school.teacher_5a.id])
    assert teachers == [0, *sorted(s.id for s in school.students_5a)]
    # The deputy opens their own (the level: both classes).
    deputys = await downloaded(school.deputy, rows[school.deputy.id])
    assert deputys == [0, *await named(school.deputy)]
    assert set(await named(school.deputy)) >= {s.id for s in [*school.students_5a, *school.students_5b]}
