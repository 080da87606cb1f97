"""The outbox sender: N notifications through the real OutboxSender against a server that enforces
Telegram's flood limits (30/s overall, 1/s per chat); counted at the server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from sqlalchemy import delete
from sqlmodel import col, func, select

from bench.report import Figure
from bench.school import SyntheticSchool
from bench.server import BenchServer
from bot.services.outbox import NotificationPayload, enqueue
from bot.services.sender import MAX_PER_SECOND, OutboxSender
from models import Notification
from models.base import utcnow
from models.db import create_engine, create_session_factory
from models.enums import OutboxStatus

PER_CHAT = 3  # notifications per person: the per-chat spacing is exercised too
GOAL_SHARE = 0.95
KIND = "bench"


async def figure(school: SyntheticSchool, workdir: Path, notifications: int) -> Figure:
    recipients = school.guardians[: max(1, notifications // PER_CHAT)]
    engine = create_engine(school.database_url)
    session_factory = create_session_factory(engine)
    async with session_factory() as session:
        # What the throughput run left queued is not this figure's (its people are on another server).
        await session.exec(delete(Notification).where(col(Notification.status) == OutboxStatus.PENDING))
        for n in range(notifications):
            guardian = recipients[n % len(recipients)]
            payload = NotificationPayload(text=f"Достижение № bench-{n} одобрено и добавлено в портфолио.")
            await enqueue(session, guardian.account_id, KIND, payload, f"{KIND}:{n}")
        await session.commit()
    async with BenchServer(enforce_flood_limits=True) as server:
        for guardian in recipients:
            server.bench_user(guardian.telegram_id, "Родитель", started=True)
        bot = Bot(
            server.token, session=server.session(), default=DefaultBotProperties(parse_mode=ParseMode.HTML)
        )
        try:
            delivered = await OutboxSender().run_once(bot, session_factory, school.media_dir, utcnow())
        finally:
            await bot.session.close()
        async with session_factory() as session:
            still_pending = (
                await session.exec(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.status != OutboxStatus.SENT)
                )
            ).one()
    await engine.dispose()
    times = sorted(arrival for arrival, _chat, _text in server.sent)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    copies = Counter(text for _arrival, _chat, text in server.sent)
    duplicates = sum(count - 1 for count in copies.values())
    refused = server.status_counts.get(429, 0)
    share = rate / MAX_PER_SECOND
    return Figure(
        f"sender, {notifications} notifications",
        rate,
        "msg/s",
        MAX_PER_SECOND,
        "ceiling",
        share,
        f"≥ {GOAL_SHARE:.0%} of ceiling, 0×429, 0 dup",
        share >= GOAL_SHARE and refused == 0 and duplicates == 0 and delivered == notifications,
        f"{delivered} delivered to {len(recipients)} chats, {refused}×429, {duplicates} duplicates, "
        f"{still_pending} not sent",
        {"delivered": delivered, "status_429": refused, "duplicates": duplicates, "not_sent": still_pending},
    )
