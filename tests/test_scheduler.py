"""The scheduler fires in the school's zone whatever the server's, and the bot's background work starts
and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.utils.i18n import I18n
from apscheduler.triggers.cron import CronTrigger
from sqlmodel import select

from bot.background import Background
from bot.config import Settings
from bot.scheduler import (
    DIGEST_JOB_ID,
    REMINDERS_JOB_ID,
    ScheduledJob,
    create_scheduler,
    digest_trigger,
    reminders_trigger,
    run_reminders,
)
from bot.services.reminders import ReminderReport
from models import Achievement, Notification
from models.db import SessionFactory
from models.enums import Source
from tests.factories import make_school

LOCALES = Path(__file__).resolve().parent.parent / "locales"
MOSCOW = ZoneInfo("Europe/Moscow")


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}",
        media_dir=tmp_path / "media",
        timezone="Europe/Moscow",
        **values,
    )


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo"])
def server_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local zone, as the server would have it."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n(path=LOCALES, default_locale="ru", domain="messages")


async def nothing() -> None:
    """A job that does nothing."""


def fire_times(trigger: CronTrigger, after: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    previous = None
    now = after
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        times.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return times


def test_reminders_fire_at_nine_school_time_whatever_the_servers_zone(
    tmp_path: Path, server_zone: str
) -> None:
    trigger = reminders_trigger(settings_for(tmp_path))
    # 05:59 UTC is 08:59 in Moscow: today's run is a minute away; then every day at 09:00 Moscow.
    times = fire_times(trigger, datetime(2026, 3, 10, 5, 59, tzinfo=UTC), 3)
    assert [t.astimezone(UTC) for t in times] == [
        datetime(2026, 3, 10, 6, 0, tzinfo=UTC),
        datetime(2026, 3, 11, 6, 0, tzinfo=UTC),
        datetime(2026, 3, 12, 6, 0, tzinfo=UTC),
    ]
    assert all(t.astimezone(MOSCOW).hour == 9 for t in times)
    # After 06:00 UTC today's run is over: the next is tomorrow's.
    assert trigger.get_next_fire_time(None, datetime(2026, 3, 10, 6, 1, tzinfo=UTC)) == datetime(
        2026, 3, 11, 9, 0, tzinfo=MOSCOW
    )


@pytest.mark.parametrize(
    "cron",
    ["0 8 * * mon", "0 8 * * 1", "0 8 * * MON", "0 8 * * 1-1"],
)
def test_the_weekly_digest_fires_monday_eight_school_time(
    tmp_path: Path, server_zone: str, cron: str
) -> None:
    trigger = digest_trigger(settings_for(tmp_path, digest_cron=cron))
    # From Wednesday 11 March 2026: Mondays 16 and 23 March, 08:00 in Moscow (05:00 UTC).
    times = fire_times(trigger, datetime(2026, 3, 11, 12, 0, tzinfo=UTC), 2)
    assert [t.astimezone(UTC) for t in times] == [
        datetime(2026, 3, 16, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 23, 5, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("cron", "weekdays"),
    [
        ("0 8 * * 0", {6}),  # crontab's 0 is Sunday (APScheduler 3 alone would read Monday)
        ("0 8 * * 7", {6}),
        ("0 8 * * 1-5", {0, 1, 2, 3, 4}),
        ("0 8 * * 5-0", {4, 5, 6}),
        ("0 8 * * 1,3,5", {0, 2, 4}),
        ("0 8 * * */2", {6, 1, 3, 5}),  # Sunday, Tuesday, Thursday, Saturday
        ("0 8 * * mon-fri", {0, 1, 2, 3, 4}),
        ("0 8 * * sun-thu", {6, 0, 1, 2, 3}),  # crontab counts from Sunday, APScheduler from Monday
        ("0 8 * * fri-mon", {4, 5, 6, 0}),
        ("0 8 * * *", set(range(7))),
    ],
)
def test_digest_cron_weekdays_mean_what_crontab_means(tmp_path: Path, cron: str, weekdays: set[int]) -> None:
    trigger = digest_trigger(settings_for(tmp_path, digest_cron=cron))
    times = fire_times(trigger, datetime(2026, 3, 9, tzinfo=MOSCOW), 14)
    assert {t.weekday() for t in times} == weekdays
    assert all(t.hour == 8 for t in times)


async def test_the_scheduler_is_in_the_school_zone_with_generous_defaults(
    tmp_path: Path, server_zone: str
) -> None:
    settings = settings_for(tmp_path)
    jobs = [
        ScheduledJob(REMINDERS_JOB_ID, nothing, reminders_trigger(settings), run_at_startup=True),
        ScheduledJob(DIGEST_JOB_ID, nothing, digest_trigger(settings)),
    ]
    before = datetime.now(UTC)
    scheduler = create_scheduler(settings, jobs)
    scheduler.start(paused=True)
    try:
        assert scheduler.timezone == MOSCOW
        reminders = scheduler.get_job(REMINDERS_JOB_ID)
        digest = scheduler.get_job(DIGEST_JOB_ID)
        for job in (reminders, digest):
            assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, 6 * 3600, 1)
        # The reminders run at once (catching up after downtime), then at 09:00 Moscow.
        assert before <= reminders.next_run_time <= datetime.now(UTC)
        after = reminders.trigger.get_next_fire_time(None, reminders.next_run_time)
        assert (after.astimezone(MOSCOW).hour, after.minute) == (9, 0)
        # The digest waits for its Monday.
        assert digest.next_run_time.astimezone(MOSCOW).weekday() == 0
        assert (digest.next_run_time.astimezone(MOSCOW).hour, digest.next_run_time.minute) == (8, 0)
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


async def test_the_reminders_job_queues_and_wakes_the_sender(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    school = await make_school(session_factory)
    async with session_factory() as session:
        session.add(
            Achievement(
                number="2026-0001",
                student_id=school.students_5a[0].id,
                category="olympiad",
                level="regional",
                result="winner",
                title="Олимпиада",
                event_date=datetime(2026, 2, 1).date(),
                source=Source.OUR_SCHOOL,
                created_at=datetime.now(UTC) - timedelta(days=4),
            )
        )
        await session.commit()
    woken: list[bool] = []

    report = await run_reminders(session_factory, i18n, MOSCOW, lambda: woken.append(True))
    assert report == ReminderReport(reminders=1)
    assert woken == [True]
    again = await run_reminders(session_factory, i18n, MOSCOW, lambda: woken.append(True))
    assert again == ReminderReport()
    assert woken == [True]  # nothing new: nobody woken
    async with session_factory() as session:
        [notification] = (await session.exec(select(Notification))).all()
    assert notification.account_id == school.teacher_5a.id


async def test_background_starts_catches_up_and_stops_leaving_no_tasks(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    await make_school(session_factory)
    background = Background(settings_for(tmp_path), session_factory, i18n)
    bot = Bot("123456:TEST")
    try:
        await background.start(bot)
        assert background.scheduler is not None and background.scheduler.running
        # The start-up run of the reminders job (nothing is overdue in a new school).
        for _ in range(500):
            if background.last_reminders is not None:
                break
            await asyncio.sleep(0.01)
        assert background.last_reminders == ReminderReport()
        job = background.scheduler.get_job(REMINDERS_JOB_ID)
        assert job.next_run_time.astimezone(MOSCOW).hour == 9

        await background.stop()
        assert background.scheduler is None
        assert asyncio.all_tasks() == {asyncio.current_task()}

        # And again, as after a restart; stopped straight away, while the start-up run may be going on.
        await background.start(bot)
        await background.stop()
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}
    finally:
        await bot.session.close()


class SlowJobBackground(Background):
    """Background whose only job takes `seconds` and notes how it ended."""

    def __init__(
        self, settings: Settings, session_factory: SessionFactory, i18n: I18n, seconds: float
    ) -> None:
        super().__init__(settings, session_factory, i18n)
        self.seconds = seconds
        self.started = asyncio.Event()
        self.ended: list[str] = []

    def jobs(self) -> list[ScheduledJob]:
        return [ScheduledJob("slow", self._slow, reminders_trigger(self.settings), run_at_startup=True)]

    async def _slow(self) -> None:
        self.started.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        self.ended.append("finished")


async def test_stopping_lets_a_running_job_finish(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n
) -> None:
    background = SlowJobBackground(settings_for(tmp_path), session_factory, i18n, seconds=0.2)
    bot = Bot("123456:TEST")
    try:
        await background.start(bot)
        await asyncio.wait_for(background.started.wait(), 5)
        await background.stop()
        assert background.ended == ["finished"]
        assert asyncio.all_tasks() == {asyncio.current_task()}
    finally:
        await bot.session.close()


async def test_stopping_cancels_a_job_that_runs_too_long(
    session_factory: SessionFactory, tmp_path: Path, i18n: I18n, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.background.JOB_STOP_TIMEOUT", 0.05)
    background = SlowJobBackground(settings_for(tmp_path), session_factory, i18n, seconds=60)
    bot = Bot("123456:TEST")
    try:
        await background.start(bot)
        await asyncio.wait_for(background.started.wait(), 5)
        await background.stop()
        assert background.ended == ["cancelled"]
        assert asyncio.all_tasks() == {asyncio.current_task()}
    finally:
        await bot.session.close()
