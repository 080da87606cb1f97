"""The strict local Bot API server from the tests, instrumented for benchmarks.

- Waiting is per chat: the test server wakes every waiting user on every bot action, which is fine for
  a dozen users and quadratic for two thousand.
- Latency: each update is stamped when a getUpdates answer first offers it, and again when the bot's
  reply arrives: for a message, the first send or edit in that chat; for a button press, the answer to
  that callback query. Users play one step at a time, so a chat has at most one update in flight.
- Telegram's flood limits, optionally: 30 messages a second overall and one a second per chat, else 429.
"""

# ruff: noqa: ASYNC109 - waiting helpers take timeout= like the test API they extend
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from tests.telegram_server import (
    QUERY_TOO_OLD,
    SENDING_METHODS,
    Files,
    Params,
    RecordedRequest,
    StoredMessage,
    TelegramError,
    TelegramServer,
    _Pulse,
    too_many_requests,
)
from tests.tg_users import FakeUser, GroupChat, PressedButton

T = TypeVar("T")

# Methods by which the bot answers a message in its chat.
REPLY_METHODS = SENDING_METHODS | {"editmessagetext", "editmessagecaption", "editmessagereplymarkup"}
GLOBAL_LIMIT = 30  # messages a second to anyone (Telegram's documented limit)
PER_CHAT_INTERVAL = 1.0  # seconds between messages to one chat


def update_kind(update: dict[str, Any]) -> str:
    """What an update is, for the latency by kind: «press rv» (a button's callback prefix), «photo», or
    the command or first word of a text («/start», «📚»)."""
    if "callback_query" in update:
        return "press " + str(update["callback_query"].get("data", "")).split(":")[0]
    message = update["message"]
    if "photo" in message:
        return "photo"
    words = str(message.get("text", "")).split()
    return "text " + (words[0] if words else "")


class BenchUser(FakeUser):
    """A FakeUser that waits on its own chat's pulse instead of the server-wide one, and notes the kind
    of every update it sends ("text", "photo" or "press") so that the echo run can replay them."""

    def __init__(self, server: TelegramServer, user_id: int, first_name: str, *, started: bool) -> None:
        super().__init__(server, user_id, first_name, started=started)
        self.sent: list[str] = []

    def _send(
        self, content: dict[str, Any], chat: GroupChat | None, *, reply_to: int | None = None
    ) -> StoredMessage:
        self.sent.append("photo" if "photo" in content else "text")
        return super()._send(content, chat, reply_to=reply_to)

    def _press_button(self, message_id: int, button: dict[str, Any], chat: GroupChat | None) -> PressedButton:
        self.sent.append("press")
        return super()._press_button(message_id, button, chat)

    async def _next_matching(
        self, predicate: Callable[[StoredMessage], bool], timeout: float, what: str
    ) -> StoredMessage:
        def probe() -> StoredMessage | None:
            events = self.server.bot_events(self.chat_id)
            for index in range(self._read, len(events)):
                if predicate(events[index]):
                    self._read = index + 1
                    return events[index]
            return None

        server = self.server
        assert isinstance(server, BenchServer)
        try:
            return await server.chat_pulse(self.chat_id).until(probe, timeout)
        except TimeoutError:
            raise AssertionError(self._report(f"No {what} in {self.label} within {timeout}s.")) from None

    async def wait_answer(self, query_id: str, timeout: float) -> dict[str, Any]:
        """The bot's answer to one button press of this user; {} when the bot answered after Telegram's
        lifetime of a press and was refused (a backlog under load, not a lost update)."""
        query = self.server.callback_query(query_id)
        server = self.server
        assert isinstance(server, BenchServer)

        def answered() -> dict[str, Any] | None:
            return query.answer if query.answer is not None else {} if query_id in server.too_late else None

        return await server.chat_pulse(self.chat_id).until(answered, timeout)


class BenchServer(TelegramServer):
    def __init__(self, *, enforce_flood_limits: bool = False) -> None:
        super().__init__(record_requests=False)
        self.enforce_flood_limits = enforce_flood_limits
        self._chat_pulses: dict[int, _Pulse] = {}
        self._offered_at: dict[int, float] = {}  # update id -> when first offered
        self._waiting: dict[Any, tuple[str, float]] = {}  # chat id or query id -> (kind, offered)
        self.latencies: list[float] = []  # seconds, offer -> reply, in the order replies came
        self.latency_kinds: list[str] = []  # what each of `latencies` answered (see `update_kind`)
        self.status_counts: dict[int, int] = {}  # HTTP status of every answered call
        self.sent: list[tuple[float, int, str]] = []  # (arrival, chat id, text or caption) of accepted sends
        self._recent_sends: deque[float] = deque()
        self._chat_last_send: dict[int, float] = {}
        self.polls = 0  # getUpdates calls: the first one means the bot has started
        self.too_late: set[str] = set()  # presses the bot answered after Telegram's 15 s: refused

    # -- users --------------------------------------------------------------------------------------------

    def bench_user(self, user_id: int, first_name: str, *, started: bool = False) -> BenchUser:
        """The user with this id (made on first use: a class teacher reviews in several runs)."""
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = BenchUser(self, user_id, first_name, started=started)
        assert isinstance(user, BenchUser)
        return user

    def chat_pulse(self, chat_id: int) -> _Pulse:
        pulse = self._chat_pulses.get(chat_id)
        if pulse is None:
            pulse = self._chat_pulses[chat_id] = _Pulse()
        return pulse

    def reset_measurements(self) -> None:
        self.latencies.clear()
        self.latency_kinds.clear()
        self.status_counts.clear()
        self.sent.clear()
        self.too_late.clear()

    # -- offering updates -----------------------------------------------------------------------------------

    async def _get_updates(self, params: Params, files: Files) -> list[dict[str, Any]]:
        self.polls += 1
        batch = await super()._get_updates(params, files)
        now = time.perf_counter()
        for update in batch:
            update_id = update["update_id"]
            if update_id in self._offered_at:
                continue  # offered again (not confirmed yet): the first offer counts
            self._offered_at[update_id] = now
            if "callback_query" in update:
                self._waiting[("query", update["callback_query"]["id"])] = (update_kind(update), now)
            elif "message" in update:
                self._waiting[update["message"]["chat"]["id"]] = (update_kind(update), now)
        return batch

    # -- replies --------------------------------------------------------------------------------------------

    async def _call(self, request: web.Request, record: RecordedRequest) -> None:
        arrived = time.perf_counter()
        await super()._call(request, record)
        self.status_counts[record.status] = self.status_counts.get(record.status, 0) + 1
        method = record.method.lower()
        if method == "answercallbackquery":
            self._replied(("query", str(record.params.get("callback_query_id"))), arrived)
        elif method in REPLY_METHODS and isinstance(record.params.get("chat_id"), int):
            self._replied(record.params["chat_id"], arrived)
        if method in SENDING_METHODS and record.status == 200:
            text = str(record.params.get("text") or record.params.get("caption") or "")
            self.sent.append((arrived, record.params.get("chat_id"), text))

    def _replied(self, key: Any, arrived: float) -> None:
        waiting = self._waiting.pop(key, None)
        if waiting is not None:
            kind, offered = waiting
            self.latencies.append(arrived - offered)
            self.latency_kinds.append(kind)

    def _apply_injected_failures(self, method: str, params: dict[str, Any]) -> None:
        super()._apply_injected_failures(method, params)
        if self.enforce_flood_limits and method in SENDING_METHODS:
            self._check_flood(params.get("chat_id"))

    def _check_flood(self, chat_id: Any) -> None:
        now = time.monotonic()
        while self._recent_sends and now - self._recent_sends[0] >= 1.0:
            self._recent_sends.popleft()
        if len(self._recent_sends) >= GLOBAL_LIMIT:
            raise too_many_requests(1)
        last = self._chat_last_send.get(chat_id)
        if last is not None and now - last < PER_CHAT_INTERVAL:
            raise too_many_requests(1)
        self._recent_sends.append(now)
        self._chat_last_send[chat_id] = now

    # -- waking the users who wait ----------------------------------------------------------------------------

    def _bot_event(self, message: StoredMessage, line: str) -> None:
        super()._bot_event(message, line)
        self.chat_pulse(message.chat_id).fire()

    async def _answer_callback_query(self, params: Params, files: Files) -> bool:
        query = self._callback_queries.get(str(params.get("callback_query_id", "")))
        try:
            return await super()._answer_callback_query(params, files)
        except TelegramError as error:
            if query is not None and not query.answered and QUERY_TOO_OLD in error.description:
                self.too_late.add(query.id)
            raise
        finally:
            if query is not None:
                self.chat_pulse(query.chat_id).fire()
