"""The bot process's scheduled jobs: APScheduler's AsyncIOScheduler in the school's zone.

Jobs are kept in memory: nothing about them needs to survive a restart, because each job is idempotent
and its exactly-once guarantee lives in the database (the outbox's dedup keys, the digests' delivery
rows). A job that may have been missed while the bot was down says `run_at_startup`, and runs once as the
scheduler starts, as well as on its trigger.

Triggers are computed in `Settings.tz`, whatever the server's zone. The jobs: the daily reminders and the
weekly digest (`digest_job`), both in the list `Background.jobs()` returns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.config import Settings
from bot.services.digest import DigestRun, Period, run_digest
from bot.services.reminders import ReminderReport, send_reminders
from models.base import utcnow
from models.db import SessionFactory

log = logging.getLogger(__name__)

JobFunc = Callable[[], Awaitable[Any]]

# A late run is still worth doing (the bot was down at 09:00); runs missed in a row become one.
JOB_DEFAULTS = {"coalesce": True, "misfire_grace_time": 6 * 3600, "max_instances": 1}
REMINDERS_JOB_ID = "reminders"
REMINDERS_HOUR = 9  # school time
DIGEST_JOB_ID = "digest"


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: JobFunc
    trigger: BaseTrigger
    # Also run as the scheduler starts: catches up after downtime; the job must be safe to repeat.
    run_at_startup: bool = False


def reminders_trigger(settings: Settings) -> CronTrigger:
    """Every day at 09:00 school time."""
    return CronTrigger(hour=REMINDERS_HOUR, minute=0, timezone=settings.tz)


def reminders_job(settings: Settings, func: JobFunc) -> ScheduledJob:
    return ScheduledJob(REMINDERS_JOB_ID, func, reminders_trigger(settings), run_at_startup=True)


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_weekdays(field: str) -> str:
    """A crontab day-of-week field with weekday numbers as names.

    APScheduler 3 reads 0 as Monday, crontab as Sunday (0 and 7): «0 8 * * 1» would fire on Tuesdays.
    Names mean the same to both, so numbers (in lists, ranges and steps) are spelled out; so are ranges of
    names, which wrap past Sunday in APScheduler («sun-thu» is refused there).
    """
    if not re.search(r"[\d-]", field):  # names, lists of names and «*» mean the same to both
        return field
    names: list[str] = []
    for item in field.split(","):
        base, _slash, step = item.partition("/")
        if base == "*":
            first, last = 0, 6
        else:
            low, _dash, high = base.partition("-")
            first = _weekday_number(low)
            last = _weekday_number(high) if high else (6 if step else first)
            if last < first:
                last += 7
        for day in range(first, last + 1, int(step) if step else 1):
            name = _CRON_WEEKDAYS[day % 7]
            if name not in names:
                names.append(name)
    return ",".join(names)


def _weekday_number(value: str) -> int:
    value = value.strip().lower()
    if value.isdigit() and 0 <= int(value) <= 7:
        return int(value)
    if value[:3] in _CRON_WEEKDAYS:
        return _CRON_WEEKDAYS.index(value[:3])
    raise ValueError(f"not a day of the week: {value!r}")


def digest_trigger(settings: Settings) -> CronTrigger:
    """DIGEST_CRON (standard crontab, default «0 8 * * mon») in the school's zone."""
    fields = settings.digest_cron.split()
    if len(fields) == 5:
        fields[4] = _cron_weekdays(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=settings.tz)


def digest_job(settings: Settings, func: JobFunc) -> ScheduledJob:
    """On DIGEST_CRON, and at start-up to catch up a digest that fell due while the bot was down."""
    return ScheduledJob(DIGEST_JOB_ID, func, digest_trigger(settings), run_at_startup=True)


def due_digest(settings: Settings, now: datetime) -> tuple[Period, datetime] | None:
    """The latest week whose digest fell due by `now`, with the moment it fell due.

    A week's digest falls due at the first DIGEST_CRON time after the week ends (Monday 08:00 by default,
    for the week before). None only if no such time has come for the last two weeks.
    """
    trigger = digest_trigger(settings)
    period = Period.containing(now, settings.tz).previous()
    for candidate in (period, period.previous()):
        fire_time = trigger.get_next_fire_time(None, candidate.end(settings.tz))
        if fire_time is not None and fire_time <= now:
            return candidate, fire_time
    return None


def create_scheduler(settings: Settings, jobs: Iterable[ScheduledJob]) -> AsyncIOScheduler:
    """A scheduler (not started) in the school's zone with `jobs`; start it inside the event loop."""
    scheduler = AsyncIOScheduler(timezone=settings.tz, job_defaults=JOB_DEFAULTS)
    for job in jobs:
        extra: dict[str, Any] = {}
        if job.run_at_startup:
            extra["next_run_time"] = datetime.now(settings.tz)
        scheduler.add_job(job.func, job.trigger, id=job.id, name=job.id, replace_existing=True, **extra)
    return scheduler


async def run_reminders(
    session_factory: SessionFactory, i18n: I18n, tz: tzinfo, on_queued: Callable[[], None]
) -> ReminderReport:
    """The reminders job: queue what is due now, then wake the outbox sender if anything was queued."""
    async with session_factory() as session:
        report = await send_reminders(session, utcnow(), i18n=i18n, tz=tz)
    if report.queued:
        on_queued()
    return report


async def run_due_digest(
    session_factory: SessionFactory, settings: Settings, i18n: I18n, on_queued: Callable[[], None]
) -> DigestRun | None:
    """The digest job: the latest due week's digest to whoever held a digest role when it fell due and
    hasn't had it (nobody, when it went out already); then wake the outbox sender if anything was queued."""
    now = utcnow()
    due = due_digest(settings, now)
    if due is None:
        return None
    period, fell_due = due
    run = await run_digest(session_factory, settings, period, now, i18n=i18n, as_of=fell_due)
    if run.queued:
        on_queued()
    return run
