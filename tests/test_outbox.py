"""The outbox and its sender against the strict local Bot API server.

Timing: the rate tests run in real time and measure the server's own request timestamps; the others
inject a fake clock whose sleep() returns at once, so a 7-second flood wait costs nothing.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from PIL import Image
from pydantic import ValidationError
from sqlmodel import col, select

from bot.services.outbox import NotificationPayload, enqueue
from bot.services.sender import LEASE, MAX_PER_SECOND, RETRY_BASE, OutboxSender
from models import Account, Notification
from models.db import SessionFactory
from models.enums import OutboxStatus
from tests.factories import make_account
from tests.telegram_server import RecordedRequest, TelegramServer
from tests.tg_users import FakeUser

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SENDING = ("sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup")


class FakeClock:
    """Monotonic seconds that move only when the sender sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def server() -> AsyncIterator[TelegramServer]:
    async with TelegramServer() as running:
        yield running


@pytest.fixture
async def tg_bot(server: TelegramServer) -> AsyncIterator[Bot]:
    bot = Bot(server.token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    yield bot
    await bot.session.close()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path


def fake_clock_sender() -> tuple[OutboxSender, FakeClock]:
    clock = FakeClock()
    return OutboxSender(clock=clock, sleep=clock.sleep), clock


async def accounts_for(session_factory: SessionFactory, users: list[FakeUser]) -> list[int]:
    async with session_factory() as session:
        accounts = [await make_account(session, user.first_name, telegram_id=user.id) for user in users]
        await session.commit()
    return [account.id for account in accounts]


async def queue(
    session_factory: SessionFactory, account_id: int, payload: NotificationPayload | str, key: str
) -> None:
    if isinstance(payload, str):
        payload = NotificationPayload(text=payload)
    async with session_factory() as session:
        await enqueue(session, account_id, "test", payload, dedup_key=key)
        await session.commit()


async def rows(session_factory: SessionFactory) -> list[Notification]:
    async with session_factory() as session:
        return list((await session.exec(select(Notification).order_by(col(Notification.id)))).all())


def sends(server: TelegramServer, ok: bool = True) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method in SENDING and r.ok == ok]


def items(request: RecordedRequest) -> int:
    return len(request.params["media"]) if request.method == "sendMediaGroup" else 1


def busiest_second(requests: list[RecordedRequest]) -> int:
    """The most messages the server received within any one second."""
    return max(
        sum(items(other) for other in requests if start.timestamp <= other.timestamp < start.timestamp + 1.0)
        for start in requests
    )


def write_jpeg(media_dir: Path, name: str) -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "navy").save(out, "JPEG")
    (media_dir / name).write_bytes(out.getvalue())
    return name


# -- queueing ---------------------------------------------------------------------------------------------


async def test_the_same_dedup_key_queues_one_notification_and_spoils_no_transaction(
    session_factory: SessionFactory, server: TelegramServer
) -> None:
    [account_id] = await accounts_for(session_factory, [server.user(started=True)])
    await queue(session_factory, account_id, "первое", "review:1:1")
    async with session_factory() as session:
        await enqueue(session, account_id, "test", NotificationPayload(text="повтор"), dedup_key="review:1:1")
        await enqueue(session, account_id, "test", NotificationPayload(text="новое"), dedup_key="review:2:1")
        await session.commit()

    queued = await rows(session_factory)
    assert [(n.dedup_key, NotificationPayload.model_validate_json(n.payload).text) for n in queued] == [
        ("review:1:1", "первое"),
        ("review:2:1", "новое"),
    ]
    assert {n.status for n in queued} == {OutboxStatus.PENDING}


async def test_a_notification_is_only_queued_with_the_change_it_announces(
    session_factory: SessionFactory, server: TelegramServer
) -> None:
    [account_id] = await accounts_for(session_factory, [server.user(started=True)])
    async with session_factory() as session:
        await enqueue(session, account_id, "test", NotificationPayload(text="x"), dedup_key="k")
        await session.rollback()
    assert await rows(session_factory) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "x" * 1025, "photo_paths": ["a.jpg"]},
        {"text": "x" * 4097},
        {"text": "x", "photo_paths": [f"{n}.jpg" for n in range(11)]},
        {"text": "x", "photo_paths": ["a.jpg"], "document_paths": ["b.pdf"]},
        {"text": "x", "buttons": [[("Да", "y" * 65)]]},
    ],
    ids=["long-caption", "long-text", "album-of-11", "photo-and-document", "long-callback-data"],
)
def test_a_payload_telegram_would_refuse_is_refused_when_queued(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NotificationPayload.model_validate(fields)


# -- rate limits (real time) ------------------------------------------------------------------------------


async def test_thirty_notifications_go_out_at_most_25_a_second(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    users = [server.user(started=True) for _ in range(30)]
    for number, account_id in enumerate(await accounts_for(session_factory, users)):
        await queue(session_factory, account_id, f"Сообщение {number}", f"n{number}")

    started = asyncio.get_running_loop().time()
    delivered = await OutboxSender().run_once(tg_bot, session_factory, media_dir, NOW)
    elapsed = asyncio.get_running_loop().time() - started

    assert delivered == 30
    assert [len(server.sent_to(user.id)) for user in users] == [1] * 30
    assert busiest_second(sends(server)) <= 25
    assert 1.0 <= elapsed < 3.0
    # Oldest first.
    assert [r.params["text"] for r in sends(server)] == [f"Сообщение {n}" for n in range(30)]
    assert {n.status for n in await rows(session_factory)} == {OutboxStatus.SENT}


async def test_one_chat_gets_a_message_per_interval_and_an_album_counts_per_photo(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    interval = 0.2  # one second in production; shorter here to keep the test quick
    anna, boris = server.user(started=True), server.user(started=True)
    anna_id, boris_id = await accounts_for(session_factory, [anna, boris])
    photos = [write_jpeg(media_dir, "a.jpg"), write_jpeg(media_dir, "b.jpg")]
    album = NotificationPayload(text="Карточка", photo_paths=photos, buttons=[[("✅", "rv:approve:1")]])
    await queue(session_factory, anna_id, "первое", "a1")
    await queue(session_factory, anna_id, album, "a2")
    await queue(session_factory, anna_id, "третье", "a3")
    await queue(session_factory, boris_id, "Борису", "b1")

    delivered = await OutboxSender(per_chat_interval=interval).run_once(
        tg_bot, session_factory, media_dir, NOW
    )

    assert delivered == 4
    to_anna = [r for r in sends(server) if r.params["chat_id"] == anna.id]
    assert [r.method for r in to_anna] == ["sendMessage", "sendMediaGroup", "sendMessage", "sendMessage"]
    gaps = [later.timestamp - earlier.timestamp for earlier, later in itertools.pairwise(to_anna)]
    assert all(gap >= need for gap, need in zip(gaps, [interval, 2 * interval, interval], strict=True)), gaps
    # Boris did not wait behind Anna's chat.
    [to_boris] = [r for r in sends(server) if r.params["chat_id"] == boris.id]
    assert to_boris.timestamp < to_anna[1].timestamp


class SlowTelegram(BaseRequestMiddleware):
    """Every Telegram call takes `latency` seconds of the fake clock; records when each send began."""

    def __init__(self, clock: FakeClock, latency: float) -> None:
        self.clock, self.latency = clock, latency
        self.sends: list[tuple[float, int]] = []  # (fake time the request left, messages in it)

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        if method.__api_method__ in SENDING:
            self.sends.append((self.clock.now, len(getattr(method, "media", None) or [None])))
        self.clock.now += self.latency
        return await make_request(bot, method)


async def test_the_sender_never_starts_more_than_25_messages_in_a_second_of_its_clock(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    # Telegram answers in 30 ms, less than the 40 ms spacing: the spacing counts from when a request
    # left, so the answer's wait is not added to it; and an album of ten in the middle of the stream
    # still leaves no second with more than 25 messages.
    users = [server.user(started=True) for _ in range(60)]
    account_ids = await accounts_for(session_factory, users)
    photos = [write_jpeg(media_dir, f"{n}.jpg") for n in range(10)]
    for number, account_id in enumerate(account_ids):
        if number == 30:
            album = NotificationPayload(text="Альбом", photo_paths=photos)
            await queue(session_factory, account_ids[0], album, "album")
        await queue(session_factory, account_id, f"Сообщение {number}", f"n{number}")
    sender, clock = fake_clock_sender()
    telegram = SlowTelegram(clock, latency=0.03)
    tg_bot.session.middleware(telegram)

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 61

    assert sorted(size for _at, size in telegram.sends) == [1] * 60 + [10]
    busiest = max(
        sum(size for at, size in telegram.sends if start <= at < start + 1 - 1e-9)
        for start, _ in telegram.sends
    )
    assert busiest <= MAX_PER_SECOND
    # One message after another: exactly 1/25 s apart, not 1/25 s after Telegram's answer.
    singles = [
        later - earlier
        for (earlier, size), (later, next_size) in itertools.pairwise(telegram.sends)
        if size == next_size == 1
    ]
    assert singles == pytest.approx([1 / MAX_PER_SECOND] * len(singles))


# -- what Telegram answers --------------------------------------------------------------------------------


async def test_flood_control_pauses_sending_and_everyone_gets_exactly_one_copy(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    users = [server.user(started=True) for _ in range(3)]
    for number, account_id in enumerate(await accounts_for(session_factory, users)):
        await queue(session_factory, account_id, f"Сообщение {number}", f"n{number}")
    server.fail_next("sendMessage", retry_after=7)
    sender, clock = fake_clock_sender()

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 2
    assert clock.sleeps[0] == 7  # the others went out only after the wait
    first = (await rows(session_factory))[0]
    assert first.status == OutboxStatus.PENDING
    assert first.not_before is not None and first.not_before >= NOW + timedelta(seconds=7)
    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW + timedelta(seconds=2)) == 0

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW + timedelta(seconds=8)) == 1
    assert [len(server.sent_to(user.id)) for user in users] == [1, 1, 1]
    assert [r.status for r in server.calls("sendMessage")] == [429, 200, 200, 200]
    assert {n.status for n in await rows(session_factory)} == {OutboxStatus.SENT}


async def test_people_who_blocked_or_never_started_the_bot_become_unreachable_and_the_rest_is_delivered(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    anna, blocker, stranger, boris = (
        server.user(started=True),
        server.user(started=True),
        server.user(),
        server.user(started=True),
    )
    blocker.block()
    ids = await accounts_for(session_factory, [anna, blocker, stranger, boris])
    async with session_factory() as session:
        gone = await make_account(session, "Удалённый", telegram_id=424242)  # unknown to Telegram
        await session.commit()
    for number, account_id in enumerate([*ids, gone.id]):
        await queue(session_factory, account_id, "Новость", f"n{number}")

    sender, _clock = fake_clock_sender()
    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 2

    assert (len(server.sent_to(anna.id)), len(server.sent_to(boris.id))) == (1, 1)
    by_account = {n.account_id: n for n in await rows(session_factory)}
    for account_id, error in [
        (ids[1], "blocked by the user"),
        (ids[2], "can't initiate conversation"),
        (gone.id, "chat not found"),
    ]:
        assert by_account[account_id].status == OutboxStatus.FAILED
        assert error in (by_account[account_id].error or "")
    async with session_factory() as session:
        reachable = dict((await session.exec(select(Account.id, Account.reachable))).all())
    assert [reachable[a] for a in (*ids, gone.id)] == [True, False, False, True, False]

    # Later notifications to them fail at once, without asking Telegram again.
    requests_before = len(server.requests)
    await queue(session_factory, ids[1], "Ещё новость", "later")
    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 0
    assert len(server.requests) == requests_before
    assert (await rows(session_factory))[-1].error == "account unreachable"


async def test_a_message_telegram_refuses_fails_with_its_reason_and_the_account_stays_reachable(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    [account_id] = await accounts_for(session_factory, [server.user(started=True)])
    await queue(session_factory, account_id, "<b>не закрыт", "broken-html")
    sender, _clock = fake_clock_sender()

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 0
    [row] = await rows(session_factory)
    assert row.status == OutboxStatus.FAILED and "can't parse entities" in (row.error or "")
    async with session_factory() as session:
        assert (await session.get(Account, account_id)).reachable


async def test_a_server_error_is_retried_later_with_a_backoff(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    anna, boris = server.user(started=True), server.user(started=True)
    anna_id, boris_id = await accounts_for(session_factory, [anna, boris])
    await queue(session_factory, anna_id, "Анне", "a")
    await queue(session_factory, boris_id, "Борису", "b")
    server.fail_next("sendMessage", error_code=502, description="Bad Gateway")
    sender, _clock = fake_clock_sender()

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 1
    retried = (await rows(session_factory))[0]
    assert (retried.status, retried.attempts) == (OutboxStatus.PENDING, 1)
    assert retried.not_before is not None and retried.not_before >= NOW + RETRY_BASE
    assert await sender.run_once(tg_bot, session_factory, media_dir, retried.not_before) == 1
    assert (len(server.sent_to(anna.id)), len(server.sent_to(boris.id))) == (1, 1)


async def test_two_senders_at_once_never_send_a_notification_twice(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    users = [server.user(started=True) for _ in range(8)]
    for number, account_id in enumerate(await accounts_for(session_factory, users)):
        await queue(session_factory, account_id, f"Сообщение {number}", f"n{number}")

    counts = await asyncio.gather(
        OutboxSender().run_once(tg_bot, session_factory, media_dir, NOW),
        OutboxSender().run_once(tg_bot, session_factory, media_dir, NOW),
    )

    assert sum(counts) == 8
    assert [len(server.sent_to(user.id)) for user in users] == [1] * 8
    assert {n.status for n in await rows(session_factory)} == {OutboxStatus.SENT}


async def test_a_claimed_notification_is_left_alone_until_its_lease_ends(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    user = server.user(started=True)
    [account_id] = await accounts_for(session_factory, [user])
    await queue(session_factory, account_id, "Один раз", "once")
    async with session_factory() as session:  # as a sender that crashed after claiming it would leave it
        notification = (await session.exec(select(Notification))).one()
        notification.not_before = NOW + LEASE
        session.add(notification)
        await session.commit()

    sender, _clock = fake_clock_sender()
    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 0
    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW + LEASE) == 1
    assert len(server.sent_to(user.id)) == 1


# -- what is sent -----------------------------------------------------------------------------------------


async def test_photos_documents_and_albums_arrive_with_captions_and_buttons(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    user = server.user(started=True)
    [account_id] = await accounts_for(session_factory, [user])
    photos = [write_jpeg(media_dir, f"p{n}.jpg") for n in range(3)]
    (media_dir / "d.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    buttons = [[("✅ Одобрить", "rv:approve:7"), ("❌ Отклонить", "rv:reject:7")]]
    await queue(
        session_factory, account_id, NotificationPayload(text="<b>Фото</b>", photo_paths=photos[:1]), "1"
    )
    await queue(
        session_factory,
        account_id,
        NotificationPayload(text="Документ", document_paths=["d.pdf"], buttons=buttons),
        "2",
    )
    await queue(
        session_factory,
        account_id,
        NotificationPayload(text="Альбом", photo_paths=photos, buttons=buttons, buttons_text="Решение?"),
        "3",
    )
    sender, _clock = fake_clock_sender()

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 3

    got = [
        (m.kind, m.text or m.caption, m.buttons, m.media_group_id is not None)
        for m in server.sent_to(user.id)
    ]
    assert got == [
        ("photo", "Фото", [], False),
        ("document", "Документ", [["✅ Одобрить", "❌ Отклонить"]], False),
        ("photo", "Альбом", [], True),
        ("photo", None, [], True),
        ("photo", None, [], True),
        ("text", "Решение?", [["✅ Одобрить", "❌ Отклонить"]], False),
    ]


async def test_a_missing_evidence_file_fails_the_notification(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    [account_id] = await accounts_for(session_factory, [server.user(started=True)])
    await queue(session_factory, account_id, NotificationPayload(text="x", photo_paths=["gone.jpg"]), "k")
    await queue(
        session_factory, account_id, NotificationPayload(text="x", document_paths=["../../etc/passwd"]), "j"
    )
    sender, _clock = fake_clock_sender()

    assert await sender.run_once(tg_bot, session_factory, media_dir, NOW) == 0
    assert [(n.status, n.error) for n in await rows(session_factory)] == [
        (OutboxStatus.FAILED, "file unreadable")
    ] * 2
    assert sends(server) == [] and sends(server, ok=False) == []


async def test_the_running_sender_delivers_as_soon_as_it_is_woken(
    session_factory: SessionFactory, server: TelegramServer, tg_bot: Bot, media_dir: Path
) -> None:
    user = server.user(started=True)
    [account_id] = await accounts_for(session_factory, [user])
    sender = OutboxSender(poll_interval=60)
    running = asyncio.create_task(sender.run_forever(tg_bot, session_factory, media_dir))
    try:
        await asyncio.sleep(0.05)  # its first look found nothing; the next poll is a minute away
        await queue(session_factory, account_id, "Сразу", "now")
        sender.wake()
        message = await user.next_message(timeout=2)
        assert message.text == "Сразу"
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_a_stop_that_comes_as_the_sender_is_woken_still_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last update of a run wakes the sender just before the bot stops it (found as a hung stop)."""
    sender = OutboxSender(poll_interval=60)
    runs: list[int] = []

    async def run_once(*_args: Any) -> int:
        runs.append(1)
        return 0

    monkeypatch.setattr(sender, "run_once", run_once)
    task = asyncio.create_task(sender.run_forever(None, None, Path()))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)  # waiting for a wake-up now
    assert runs == [1]
    sender.wake()
    task.cancel()  # in the same turn of the loop as the wake-up
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
