"""aiogram FSM storage in the database, so a restart or a deploy loses no dialogue.

One `fsm_record` row per chat/user/destiny holds the state and the data (JSON). A row with neither is
deleted. Redis is used instead when REDIS_URL is set (several bot processes, or a busy school).

Within one update (`remember_dialogues`, an update middleware outside aiogram's FSM one) the row is
read once, with the state aiogram asks for first, and kept current by the writes: a wizard step asks
for its data three or four times, and /start clears a dialogue that is already empty. Its writes are
saved together, in one transaction, before the bot next says anything (`SaveDialoguesBeforeSpeaking`,
a middleware of the bot's requests) and when the update is handled (`save_dialogues_in_turn`): a step
that set the state and data four times (the start of a submission) wrote four transactions, each
waiting for SQLite's write lock. The person never sees a question whose dialogue is not saved yet, so
a restart still loses nothing; a write that changes nothing is skipped. Outside an update (a test, a
script) every write is saved at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from aiogram.methods import TelegramMethod
from aiogram.types import TelegramObject
from sqlalchemy import Update, bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from models.base import utcnow
from models.db import SessionFactory
from models.fsm import FsmRecord

EMPTY_DATA = "{}"

# Dialects with INSERT ... ON CONFLICT DO UPDATE: one statement, no race between "exists?" and insert.
_UPSERT_INSERTS: dict[str, Callable[..., Insert]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

# The statements are built once, on the table rather than the ORM class: building one (and its cache
# key) and the ORM's bulk-insert path cost more than running it on SQLite, and a wizard step reads and
# writes its dialogue on every update.
_TABLE = FsmRecord.__table__
_WHERE_KEY = _TABLE.c.key == bindparam("record_key")
_READ_ROW = select(_TABLE.c.state, _TABLE.c.data).where(_WHERE_KEY)
_READ_DATA = select(_TABLE.c.data).where(_WHERE_KEY)
_READ_DATA_FOR_UPDATE = _READ_DATA.with_for_update()  # SELECT ... FOR UPDATE; SQLite ignores it
_DELETE_IF_EMPTY = delete(_TABLE).where(_WHERE_KEY, _TABLE.c.state.is_(None), _TABLE.c.data == EMPTY_DATA)


@cache
def _upsert(dialect: str, names: tuple[str, ...]) -> Insert:
    """INSERT of a whole row that, for an existing key, sets only the fields `names` (and the time)."""
    if dialect not in _UPSERT_INSERTS:
        raise NotImplementedError(f"DatabaseStorage has no upsert for the {dialect!r} dialect")
    insert = _UPSERT_INSERTS[dialect](_TABLE).values(
        key=bindparam("record_key"),
        state=bindparam("state"),
        data=bindparam("data"),
        updated_at=bindparam("now"),
    )
    return insert.on_conflict_do_update(
        index_elements=["key"], set_={name: insert.excluded[name] for name in (*names, "updated_at")}
    )


@cache
def _update(names: tuple[str, ...]) -> Update:
    """UPDATE of the fields `names` (and the time) of the record, if it exists."""
    new_values = {name: bindparam(name) for name in names}
    return update(_TABLE).where(_WHERE_KEY).values(new_values | {"updated_at": bindparam("now")})


Row = dict[str, str | None]  # "state" (str | None) and/or "data" (JSON text) of a record


@dataclass
class _Dialogues:
    """What the update being handled knows of each dialogue's row (record key -> fields), and what of it
    each storage has still to write."""

    known: dict[str, Row] = field(default_factory=dict)
    unsaved: dict[DatabaseStorage, dict[str, Row]] = field(default_factory=dict)


_dialogues: ContextVar[_Dialogues | None] = ContextVar("fsm_dialogues", default=None)


@asynccontextmanager
async def remembering_dialogues() -> AsyncIterator[None]:
    """For the update being handled: each dialogue's row is read at most once, kept current by writes,
    and the writes are saved together when the bot speaks and at the end.

    The per-chat event isolation makes this update the only one handling its chat meanwhile."""
    token = _dialogues.set(_Dialogues())
    try:
        yield
        await save_dialogues()
    finally:
        _dialogues.reset(token)


async def remember_dialogues(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    """The update middleware of `remembering_dialogues`, outside aiogram's FSM middleware: the state it
    reads first is remembered."""
    async with remembering_dialogues():
        return await handler(event, data)


async def save_dialogues_in_turn(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    """The update middleware inside aiogram's FSM middleware, which holds the chat's turn: the update's
    writes are saved before the chat's next update reads them (an album's pages come one after another)."""
    result = await handler(event, data)
    await save_dialogues()
    return result


async def save_dialogues() -> None:
    """Write what this update changed in its dialogues, in one transaction (per storage)."""
    dialogues = _dialogues.get()
    if dialogues is None:
        return
    unsaved, dialogues.unsaved = dialogues.unsaved, {}
    for storage, rows in unsaved.items():
        async with storage.session_factory.begin() as session:
            for record_key, values in rows.items():
                await storage.write(session, record_key, **values)


class SaveDialoguesBeforeSpeaking(BaseRequestMiddleware):
    """A request of the bot (a reply, an edit, a button's answer) first saves the dialogue it follows."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        await save_dialogues()
        return await make_request(bot, method)


def _recall(record_key: str, name: str) -> tuple[bool, str | None]:
    """(known, value) of one field of the row in this update."""
    dialogues = _dialogues.get()
    known = dialogues.known.get(record_key, {}) if dialogues is not None else {}
    return (name in known, known.get(name))


def _remember_read(record_key: str, **values: str | None) -> None:
    """What was read of the row, where this update knows nothing newer (its own writes wait unsaved)."""
    dialogues = _dialogues.get()
    if dialogues is not None:
        known = dialogues.known.setdefault(record_key, {})
        for name, value in values.items():
            known.setdefault(name, value)


def default_key_builder() -> DefaultKeyBuilder:
    # with_destiny: aiogram-dialog and scenes keep parallel states per chat under other destinies.
    return DefaultKeyBuilder(with_destiny=True)


def _dump(data: Mapping[str, Any]) -> str:
    if not isinstance(data, Mapping):
        raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
    # Raises TypeError on values JSON can't hold, as a Redis storage would: better in a test than in prod.
    return json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"))


class DatabaseStorage(BaseStorage):
    """FSM storage on the `fsm_record` table; works on SQLite and PostgreSQL.

    The session factory (and its engine) belongs to the composition root, which disposes it;
    `close()` therefore leaves it open.
    """

    def __init__(self, session_factory: SessionFactory, key_builder: KeyBuilder | None = None) -> None:
        self.session_factory = session_factory
        self.key_builder = key_builder or default_key_builder()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._save(self.key_builder.build(key), state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        record_key = self.key_builder.build(key)
        known, state = _recall(record_key, "state")
        if not known:
            async with self.session_factory() as session:
                row = (await session.exec(_READ_ROW, params={"record_key": record_key})).one_or_none()
            state, text = row if row is not None else (None, EMPTY_DATA)
            _remember_read(record_key, state=state, data=text)
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._save(self.key_builder.build(key), data=_dump(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return json.loads(await self._data_text(self.key_builder.build(key)))  # a fresh copy each time

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        record_key = self.key_builder.build(key)
        if _dialogues.get() is None:
            return await self._update_data_at_once(record_key, data)
        merged = json.loads(await self._data_text(record_key))
        merged.update(data)
        text = _dump(merged)
        await self._save(record_key, data=text)
        return json.loads(text)  # what the next get_data will return, not the caller's objects

    async def _data_text(self, record_key: str) -> str:
        known, text = _recall(record_key, "data")
        if not known:
            async with self.session_factory() as session:
                text = await self._read_data(session, record_key)
            _remember_read(record_key, data=text)
        return text or EMPTY_DATA

    async def _save(self, record_key: str, **values: str | None) -> None:
        """Within an update: remembered, written with the update's other changes (`save_dialogues`), and
        nothing when the update knows the row holds these values already; outside one: written at once."""
        if all(_recall(record_key, name) == (True, value) for name, value in values.items()):
            return
        dialogues = _dialogues.get()
        if dialogues is None:
            async with self.session_factory.begin() as session:
                await self.write(session, record_key, **values)
            return
        dialogues.known.setdefault(record_key, {}).update(values)
        dialogues.unsaved.setdefault(self, {}).setdefault(record_key, {}).update(values)

    async def _update_data_at_once(self, record_key: str, data: Mapping[str, Any]) -> dict[str, Any]:
        # Read, merge and write in one transaction; PostgreSQL also locks the row. On SQLite the driver
        # begins the transaction at the write, so two writers of one key could interleave: the per-chat
        # ordering middleware is what rules that out (handlers of one chat run one at a time).
        async with self.session_factory.begin() as session:
            merged = json.loads(await self._read_data(session, record_key, for_update=True))
            merged.update(data)
            text = _dump(merged)
            await self.write(session, record_key, data=text)
        return json.loads(text)

    async def close(self) -> None:
        """Nothing to do: the engine is disposed by whoever created it."""

    async def _read_data(self, session: AsyncSession, record_key: str, *, for_update: bool = False) -> str:
        query = _READ_DATA_FOR_UPDATE if for_update else _READ_DATA
        return (await session.exec(query, params={"record_key": record_key})).one_or_none() or EMPTY_DATA

    async def write(self, session: AsyncSession, record_key: str, **values: str | None) -> None:
        """Set `state` and/or `data` of the record; drop the record once it holds neither."""
        names = tuple(sorted(values))
        params: dict[str, Any] = {"record_key": record_key, "now": utcnow()}
        if any(value not in (None, EMPTY_DATA) for value in values.values()):
            upsert = _upsert(session.get_bind().dialect.name, names)
            await session.exec(upsert, params=params | {"state": None, "data": EMPTY_DATA} | values)
            return
        # Clearing: update if present, then delete the row if nothing is left in it.
        await session.exec(_update(names), params=params | values)
        await session.exec(_DELETE_IF_EMPTY, params={"record_key": record_key})


def create_storage(settings: Settings, session_factory: SessionFactory) -> BaseStorage:
    """Redis when REDIS_URL is set (no connection is made until first use), else the database."""
    if settings.redis_url:
        # Imported only here: the Redis client is several MiB that a school on SQLite never uses.
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url, key_builder=default_key_builder())
    return DatabaseStorage(session_factory)
