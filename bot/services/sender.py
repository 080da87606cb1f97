"""The one sender of the outbox: delivers queued notifications within Telegram's limits, each once.

- Rate: messages are spaced evenly, 25 a second overall, and one a second per chat (an album counts as
  its number of photos, and keeps that many spaces clear on both sides). The overall spacing counts
  from when a request was sent (one request at a time, so the server gets them in order; 25 leaves
  Telegram's 30 a margin for the network's jitter), the per-chat spacing from when Telegram answered.
- Exactly once: a row is claimed with a conditional UPDATE before sending (a lease in `not_before`, so
  another sender skips it, and a crashed sender's rows come back after the lease), and marked SENT
  right after Telegram accepts it. Only a crash between those two steps can repeat a message.
- Telegram's answers: 429 pauses all sending for `retry_after` and defers the row; a blocked or never
  started user (or an unknown chat) marks the account unreachable and the row FAILED; other refusals
  fail the row with Telegram's description; network and server errors are retried with a backoff.
- An album can't carry buttons, so they follow in a message of their own: such a notification has two
  parts. Which parts went out is kept in memory, so a retry doesn't repeat the album.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
)
from pydantic import ValidationError
from sqlalchemy import or_, update
from sqlmodel import col, select

from bot.services.outbox import NotificationPayload
from models import Account, Notification
from models.base import utcnow
from models.db import SessionFactory
from models.enums import OutboxStatus

log = logging.getLogger(__name__)

MAX_PER_SECOND = 25  # Telegram allows about 30; the margin is for replies the handlers send
PER_CHAT_INTERVAL = 1.0  # seconds per message in one chat
POLL_INTERVAL = 5.0  # seconds between looks at the outbox when nobody calls wake()
# How long a claimed row stays invisible to other senders: far longer than one send can take.
LEASE = timedelta(minutes=5)
RETRY_BASE = timedelta(seconds=10)
RETRY_MAX = timedelta(minutes=15)
MAX_ATTEMPTS = 50  # network failures before giving up: about 12 hours of retries

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Job:
    notification_id: int
    account_id: int
    chat_id: int
    payload: NotificationPayload | None = None  # read when the row is claimed
    message_id: int | None = None  # of the last part sent


class OutboxSender:
    """Sends the outbox. Keep one per process: its rate limits hold only for what it sends itself.

    `clock` (monotonic seconds) and `sleep` are injectable so tests need not wait for real.
    """

    def __init__(
        self,
        *,
        max_per_second: int = MAX_PER_SECOND,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        poll_interval: float = POLL_INTERVAL,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.max_per_second = max_per_second
        self.per_chat_interval = per_chat_interval
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        # When the next message may go: to anyone, and to each chat. A 429 pushes the first one back.
        self._next_send_at = 0.0
        self._chat_free_at: dict[int, float] = {}
        self._parts_done: dict[int, int] = {}  # notification id -> parts Telegram accepted
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now (call after committing a notification) instead of at the next poll."""
        self._wake.set()

    async def run_forever(self, bot: Bot, session_factory: SessionFactory, media_dir: Path) -> None:
        """Send what is due, then wait for wake() or the poll interval; until cancelled."""
        while True:
            self._wake.clear()  # a wake() during the run below triggers the next run at once
            try:
                await self.run_once(bot, session_factory, media_dir, utcnow())
            except Exception:  # e.g. the database is locked for too long: try again at the next poll
                log.exception("outbox run failed")
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancel that comes as the
            # event is set (a stop right after the last update woke us), and the stop waited forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def run_once(
        self, bot: Bot, session_factory: SessionFactory, media_dir: Path, now: datetime
    ) -> int:
        """Send every notification due at `now`, oldest first; return how many were delivered."""
        started = self._clock()

        def wall() -> datetime:
            return now + timedelta(seconds=self._clock() - started)

        async with session_factory() as session:
            rows = (
                await session.exec(
                    select(Notification.id, Notification.account_id, Account.telegram_id, Account.reachable)
                    .join(Account, col(Account.id) == col(Notification.account_id))
                    .where(
                        Notification.status == OutboxStatus.PENDING,
                        or_(col(Notification.not_before).is_(None), col(Notification.not_before) <= now),
                    )
                    .order_by(col(Notification.created_at), col(Notification.id))
                )
            ).all()
        jobs: list[_Job] = []
        for notification_id, account_id, chat_id, reachable in rows:
            if reachable:
                jobs.append(_Job(notification_id, account_id, chat_id))
            else:
                # Telegram already refused this person; they become reachable again when they write.
                await self._finish(session_factory, notification_id, wall(), error="account unreachable")

        delivered = 0
        while jobs:
            job = await self._next_ready(jobs)
            jobs.remove(job)
            if job.payload is None:
                job.payload = await self._claim(session_factory, job, wall())
                if job.payload is None:
                    continue  # another sender has it, or it could not be read
            if await self._send_next_part(bot, session_factory, media_dir, job, wall):
                if self._parts_done.get(job.notification_id, 0) < len(_part_sizes(job.payload)):
                    jobs.append(job)  # the buttons after an album: when the chat allows it
                else:
                    await self._finish(
                        session_factory, job.notification_id, wall(), message_id=job.message_id
                    )
                    delivered += 1
        return delivered

    async def _next_ready(self, jobs: list[_Job]) -> _Job:
        """The oldest job whose chat may get a message now; waits when every chat must wait."""
        while True:
            now = self._clock()
            for job in jobs:
                if self._chat_free_at.get(job.chat_id, 0.0) <= now:
                    return job
            await self._sleep(min(self._chat_free_at[job.chat_id] for job in jobs) - now)

    async def _wait_for_global_slot(self, items: int) -> None:
        """Wait for our turn: messages are spaced evenly, 1/max_per_second apart. An album of n arrives
        all at once, so it keeps n spaces clear on both sides (n after it by `_record_sent`, the n - 1
        more before it here): otherwise the second around it would hold up to n - 1 messages too many."""
        ready_at = self._next_send_at + (items - 1) / self.max_per_second
        while (delay := ready_at - self._clock()) > 0:
            await self._sleep(delay)

    def _record_sent(self, chat_id: int, items: int, sent_at: float) -> None:
        self._next_send_at = sent_at + items / self.max_per_second
        self._chat_free_at[chat_id] = self._clock() + items * self.per_chat_interval

    async def _claim(
        self, session_factory: SessionFactory, job: _Job, now: datetime
    ) -> NotificationPayload | None:
        """Take the row for this sender (a lease); None when someone else did, or it is unreadable."""
        async with session_factory() as session:
            result = await session.exec(
                update(Notification)
                .where(
                    col(Notification.id) == job.notification_id,
                    Notification.status == OutboxStatus.PENDING,
                    or_(col(Notification.not_before).is_(None), col(Notification.not_before) <= now),
                )
                .values(not_before=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                await session.rollback()
                return None
            payload_json = (
                await session.exec(select(Notification.payload).where(Notification.id == job.notification_id))
            ).one()
            await session.commit()
        try:
            return NotificationPayload.model_validate_json(payload_json)
        except ValidationError:
            log.error("notification %s has an unreadable payload", job.notification_id)
            await self._finish(session_factory, job.notification_id, now, error="unreadable payload")
            return None

    async def _send_next_part(
        self,
        bot: Bot,
        session_factory: SessionFactory,
        media_dir: Path,
        job: _Job,
        wall: Callable[[], datetime],
    ) -> bool:
        """Send the job's next part; True when Telegram accepted it. Records every other outcome."""
        assert job.payload is not None
        part = self._parts_done.get(job.notification_id, 0)
        items = _part_sizes(job.payload)[part]
        await self._wait_for_global_slot(items)
        sent_at = self._clock()
        try:
            job.message_id = await send_part(bot, job.chat_id, job.payload, part, media_dir)
        except TelegramRetryAfter as error:
            self._next_send_at = self._clock() + error.retry_after
            log.warning(
                "flood control: pausing %ss (notification %s)", error.retry_after, job.notification_id
            )
            await self._defer(
                session_factory, job, wall() + timedelta(seconds=error.retry_after), failed=False
            )
        except TelegramForbiddenError as error:
            await self._give_up(session_factory, job, wall(), error, unreachable=True)
        except TelegramBadRequest as error:
            await self._give_up(
                session_factory, job, wall(), error, unreachable="chat not found" in error.message
            )
        except TelegramEntityTooLarge as error:  # a network error by class, but retrying can't help
            await self._give_up(session_factory, job, wall(), error, unreachable=False)
        except TelegramAPIError as error:  # network trouble, Telegram's 5xx, and anything unexpected
            log.warning("notification %s: %s, will retry", job.notification_id, type(error).__name__)
            await self._defer(session_factory, job, wall(), failed=True)
        except OSError as error:  # an evidence file vanished from MEDIA_DIR
            log.error("notification %s: file unreadable (%s)", job.notification_id, type(error).__name__)
            await self._finish(session_factory, job.notification_id, wall(), error="file unreadable")
        else:
            self._record_sent(job.chat_id, items, sent_at)
            self._parts_done[job.notification_id] = part + 1
            return True
        return False

    async def _defer(self, session_factory: SessionFactory, job: _Job, at: datetime, *, failed: bool) -> None:
        """Give the row back for a later run: after a 429's wait, or after a failed attempt's backoff."""
        async with session_factory() as session:
            notification = await session.get(Notification, job.notification_id)
            assert notification is not None
            if failed:
                notification.attempts += 1
                at += min(RETRY_BASE * 2 ** (notification.attempts - 1), RETRY_MAX)
            if notification.attempts >= MAX_ATTEMPTS:
                self._parts_done.pop(job.notification_id, None)
                notification.status = OutboxStatus.FAILED
                notification.error = "network: gave up"
                notification.not_before = None
            else:
                notification.not_before = at
            await session.commit()

    async def _give_up(
        self,
        session_factory: SessionFactory,
        job: _Job,
        now: datetime,
        error: TelegramAPIError,
        *,
        unreachable: bool,
    ) -> None:
        log.warning(
            "notification %s to account %s refused: %s",
            job.notification_id,
            job.account_id,
            type(error).__name__,
        )
        if unreachable:
            async with session_factory() as session:
                await session.exec(
                    update(Account)
                    .where(col(Account.id) == job.account_id)
                    .values(reachable=False)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
        await self._finish(session_factory, job.notification_id, now, error=error.message)

    async def _finish(
        self,
        session_factory: SessionFactory,
        notification_id: int,
        now: datetime,
        *,
        error: str | None = None,
        message_id: int | None = None,
    ) -> None:
        """Mark the row SENT (with the id of its last message), or FAILED with `error`; either way it is
        never sent again."""
        self._parts_done.pop(notification_id, None)
        async with session_factory() as session:
            notification = await session.get(Notification, notification_id)
            assert notification is not None
            notification.not_before = None
            if error is None:
                notification.status = OutboxStatus.SENT
                notification.sent_at = now
                notification.message_id = message_id
            else:
                notification.status = OutboxStatus.FAILED
                notification.error = error[:255]
            await session.commit()


def _part_sizes(payload: NotificationPayload) -> list[int]:
    """How many messages each request of this notification sends: what the rate limits count."""
    if payload.is_album:
        return [len(payload.media_paths), 1] if payload.buttons else [len(payload.media_paths)]
    return [1]


def _keyboard(payload: NotificationPayload) -> InlineKeyboardMarkup | None:
    if not payload.buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in payload.buttons
        ]
    )


def _media_file(media_dir: Path, relative: str) -> FSInputFile:
    path = (media_dir / relative).resolve()
    if not path.is_relative_to(media_dir.resolve()) or not path.is_file():
        raise FileNotFoundError(relative)
    return FSInputFile(path)


async def send_part(bot: Bot, chat_id: int, payload: NotificationPayload, part: int, media_dir: Path) -> int:
    """Send one request of the notification; the id of the (last) message it sent."""
    html = ParseMode.HTML
    if payload.is_album and part == 0:
        item = InputMediaPhoto if payload.photo_paths else InputMediaDocument
        media = [
            item(
                media=_media_file(media_dir, path),
                caption=payload.text if index == 0 else None,
                parse_mode=html,
            )
            for index, path in enumerate(payload.media_paths)
        ]
        return (await bot.send_media_group(chat_id, media))[-1].message_id  # type: ignore[arg-type]
    if payload.is_album:
        message = await bot.send_message(
            chat_id, payload.buttons_text or payload.text, parse_mode=html, reply_markup=_keyboard(payload)
        )
    elif payload.photo_paths:
        message = await bot.send_photo(
            chat_id,
            _media_file(media_dir, payload.photo_paths[0]),
            caption=payload.text,
            parse_mode=html,
            reply_markup=_keyboard(payload),
        )
    elif payload.document_paths:
        message = await bot.send_document(
            chat_id,
            _media_file(media_dir, payload.document_paths[0]),
            caption=payload.text,
            parse_mode=html,
            reply_markup=_keyboard(payload),
        )
    else:
        message = await bot.send_message(
            chat_id, payload.text, parse_mode=html, reply_markup=_keyboard(payload)
        )
    return message.message_id


async def send_now(bot: Bot, chat_id: int, payload: NotificationPayload, media_dir: Path) -> int:
    """Send every part at once, outside the outbox: for an answer to the person's own request."""
    message_id = 0
    for part in range(len(_part_sizes(payload))):
        message_id = await send_part(bot, chat_id, payload, part, media_dir)
    return message_id
