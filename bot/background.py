"""Work the bot process does besides answering updates: the outbox sender and the scheduler.

Started by the dispatcher's startup and stopped at its shutdown, so only the bot process runs it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiogram import Bot
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.scheduler import (
    ScheduledJob,
    create_scheduler,
    digest_job,
    reminders_job,
    run_due_digest,
    run_reminders,
)
from bot.services.digest import DigestRun
from bot.services.reminders import ReminderReport
from bot.services.sender import OutboxSender
from models.db import SessionFactory

# How long stop() lets a running job finish before cancelling it (it is safe to repeat either way).
JOB_STOP_TIMEOUT = 10.0


class Background:
    def __init__(self, settings: Settings, session_factory: SessionFactory, i18n: I18n) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.i18n = i18n
        self.media_dir = settings.media_dir
        self.sender = OutboxSender()
        self.scheduler: AsyncIOScheduler | None = None
        self.last_reminders: ReminderReport | None = None  # of the last reminders run, for the curious
        self.last_digest: DigestRun | None = None  # of the last digest run that found a week due
        self._tasks: list[asyncio.Task[None]] = []
        self._running_jobs: set[asyncio.Task[Any]] = set()

    def jobs(self) -> list[ScheduledJob]:
        """What the scheduler runs."""
        return [reminders_job(self.settings, self._reminders), digest_job(self.settings, self._digest)]

    async def _reminders(self) -> None:
        self.last_reminders = await run_reminders(
            self.session_factory, self.i18n, self.settings.tz, self.sender.wake
        )

    async def _digest(self) -> None:
        run = await run_due_digest(self.session_factory, self.settings, self.i18n, self.sender.wake)
        if run is not None:
            self.last_digest = run

    def _tracked(self, job: ScheduledJob) -> ScheduledJob:
        """The job, with its running task remembered so that stop() can wait for it."""

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running_jobs.add(task)
            try:
                await job.func()
            finally:
                self._running_jobs.discard(task)

        return replace(job, func=run)

    async def start(self, bot: Bot) -> None:
        self._tasks.append(
            asyncio.create_task(
                self.sender.run_forever(bot, self.session_factory, self.media_dir), name="outbox"
            )
        )
        self.scheduler = create_scheduler(self.settings, [self._tracked(job) for job in self.jobs()])
        self.scheduler.start()

    async def stop(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.pause()  # no new runs; the running ones may finish
            running = [task for task in self._running_jobs if not task.done()]
            if running:
                await asyncio.wait(running, timeout=JOB_STOP_TIMEOUT)
            scheduler.shutdown(wait=False)  # cancels a job still running
            await asyncio.sleep(0)  # the asyncio scheduler shuts down in a loop callback
        tasks = [*self._running_jobs, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._running_jobs.clear()
