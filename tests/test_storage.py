"""The FSM storage keeps dialogues in the database, across restarts, and only JSON-able data."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.config import Settings
from bot.storage import (
    DatabaseStorage,
    SaveDialoguesBeforeSpeaking,
    _upsert,
    create_storage,
    remembering_dialogues,
)
from models.db import SessionFactory, create_engine, create_session_factory
from models.fsm import FsmRecord
from tests.harness import BotHarness

KEY = StorageKey(bot_id=42, chat_id=1001, user_id=1001)


class Submit(StatesGroup):
    title = State()


@pytest.fixture
def storage(session_factory: SessionFactory) -> DatabaseStorage:
    return DatabaseStorage(session_factory)


async def records(session_factory: SessionFactory) -> list[FsmRecord]:
    async with session_factory() as session:
        return list((await session.exec(select(FsmRecord))).all())


async def test_state_and_data_are_kept(storage: DatabaseStorage) -> None:
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}

    await storage.set_state(KEY, Submit.title)
    await storage.set_data(KEY, {"category": "sport", "files": ["a", "b"], "title": "Кросс «Осень»"})

    assert await storage.get_state(KEY) == "Submit:title"
    assert await storage.get_data(KEY) == {"category": "sport", "files": ["a", "b"], "title": "Кросс «Осень»"}
    assert await storage.get_value(KEY, "category") == "sport"


async def test_other_chats_and_destinies_are_separate(storage: DatabaseStorage) -> None:
    await storage.set_state(KEY, "a")
    await storage.set_state(StorageKey(bot_id=42, chat_id=1002, user_id=1002), "b")
    await storage.set_state(StorageKey(bot_id=42, chat_id=1001, user_id=1001, destiny="dialog"), "c")
    assert await storage.get_state(KEY) == "a"


async def test_update_data_merges_into_what_is_stored(storage: DatabaseStorage) -> None:
    await storage.set_data(KEY, {"category": "sport", "level": "city"})
    merged = await storage.update_data(KEY, {"level": "region", "result": "winner"})
    assert merged == {"category": "sport", "level": "region", "result": "winner"}
    assert await storage.get_data(KEY) == merged


async def test_setting_state_keeps_data_and_setting_data_keeps_state(storage: DatabaseStorage) -> None:
    await storage.set_state(KEY, "Submit:title")
    await storage.update_data(KEY, {"category": "sport"})
    await storage.set_state(KEY, "Submit:files")
    assert await storage.get_data(KEY) == {"category": "sport"}
    assert await storage.get_state(KEY) == "Submit:files"


async def test_clearing_state_and_data_deletes_the_row(
    storage: DatabaseStorage, session_factory: SessionFactory
) -> None:
    await storage.set_state(KEY, "Submit:title")
    await storage.set_data(KEY, {"category": "sport"})
    assert len(await records(session_factory)) == 1

    await storage.set_state(KEY, None)
    assert len(await records(session_factory)) == 1  # data is still there
    await storage.set_data(KEY, {})
    assert await records(session_factory) == []
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}


async def test_dialogue_survives_a_restart(database_url: str, session_factory: SessionFactory) -> None:
    first_engine = create_engine(database_url)
    first = DatabaseStorage(create_session_factory(first_engine))
    await first.set_state(KEY, Submit.title)
    await first.update_data(KEY, {"category": "sport"})
    await first.close()
    await first_engine.dispose()

    second_engine = create_engine(database_url)
    try:
        second = DatabaseStorage(create_session_factory(second_engine))
        assert await second.get_state(KEY) == "Submit:title"
        assert await second.get_data(KEY) == {"category": "sport"}
    finally:
        await second_engine.dispose()


async def test_data_that_json_cannot_hold_is_refused(storage: DatabaseStorage) -> None:
    with pytest.raises(TypeError):
        await storage.set_data(KEY, {"when": date(2026, 5, 1)})
    with pytest.raises(TypeError):
        await storage.update_data(KEY, {"files": {"a", "b"}})
    assert await storage.get_data(KEY) == {}


async def test_data_comes_back_as_json_would_give_it(storage: DatabaseStorage) -> None:
    # Like Redis: tuples become lists and int keys become strings. Handlers must not rely on either.
    returned = await storage.update_data(KEY, {"pair": (1, 2), "by_id": {7: "x"}})
    assert returned == {"pair": [1, 2], "by_id": {"7": "x"}}
    assert await storage.get_data(KEY) == returned


def test_redis_url_gives_a_redis_storage_without_connecting(session_factory: SessionFactory) -> None:
    # 127.0.0.1:1 has nothing listening; creating the storage must not try to connect.
    storage = create_storage(Settings(redis_url="redis://127.0.0.1:1/0"), session_factory)
    assert isinstance(storage, RedisStorage)
    assert storage.key_builder.build(KEY) == "fsm:1001:1001:default"


def test_without_redis_url_the_database_is_used(session_factory: SessionFactory) -> None:
    assert isinstance(create_storage(Settings(redis_url=""), session_factory), DatabaseStorage)


async def test_within_an_update_the_row_is_read_once_and_written_once(
    storage: DatabaseStorage, engine: AsyncEngine
) -> None:
    await storage.set_state(KEY, Submit.title)
    await storage.set_data(KEY, {"files": []})
    reads: list[str] = []
    writes: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        (reads if statement.startswith("SELECT") else writes).append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        async with remembering_dialogues():
            assert await storage.get_state(KEY) == "Submit:title"
            first = await storage.get_data(KEY)
            first["files"].append("changed by the caller")  # a copy: the memory is not touched
            assert await storage.get_data(KEY) == {"files": []}
            await storage.set_state(KEY, Submit.title)  # no change: nothing written
            await storage.set_data(KEY, {"files": []})
            assert writes == []
            assert await storage.update_data(KEY, {"category": "sport"}) == {"files": [], "category": "sport"}
            await storage.set_state(KEY, None)
            assert await storage.get_state(KEY) is None
            assert await storage.get_data(KEY) == {"files": [], "category": "sport"}
            assert writes == []  # kept for the end of the update (or the bot's next message)
        assert len(reads) == 1  # state and data at the first ask; everything after came from memory
        assert len(writes) == 1  # the merge and the cleared state: one upsert, in one transaction
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    # ...and what was remembered had been written: another storage (a restarted bot) sees the same.
    fresh = DatabaseStorage(storage.session_factory)
    assert (await fresh.get_state(KEY), await fresh.get_data(KEY)) == (
        None,
        {"files": [], "category": "sport"},
    )


async def test_outside_an_update_nothing_is_remembered(storage: DatabaseStorage) -> None:
    other = DatabaseStorage(storage.session_factory)  # another writer of the same dialogue
    async with remembering_dialogues():
        assert await storage.get_data(KEY) == {}
    await other.set_data(KEY, {"title": "Кросс"})
    assert await storage.get_data(KEY) == {"title": "Кросс"}
    await other.set_state(KEY, Submit.title)
    assert await storage.get_state(KEY) == "Submit:title"


async def test_the_dialogue_is_saved_before_the_bot_says_anything(storage: DatabaseStorage) -> None:
    """The person never sees a question whose dialogue a restart would lose."""
    seen: list[list[tuple[str | None, str]]] = []

    async def saved() -> list[tuple[str | None, str]]:  # what a restarted bot would find
        return [(record.state, record.data) for record in await records(storage.session_factory)]

    async def make_request(_bot: Any, _method: Any) -> bool:
        seen.append(await saved())
        return True

    async with remembering_dialogues():
        await storage.set_state(KEY, Submit.title)
        await storage.update_data(KEY, {"category": "sport"})
        assert await saved() == []  # not yet written...
        assert await SaveDialoguesBeforeSpeaking()(make_request, None, None) is True  # type: ignore[arg-type]
        assert seen == [[("Submit:title", '{"category":"sport"}')]]  # ...but before the bot spoke
        await storage.set_state(KEY, None)
        await storage.set_data(KEY, {})
        assert await saved() == [("Submit:title", '{"category":"sport"}')]
    assert await saved() == []  # at the end of the update: an empty dialogue leaves no row


async def test_a_failed_update_leaves_the_dialogue_as_the_person_last_saw_it(
    storage: DatabaseStorage,
) -> None:
    await storage.set_state(KEY, Submit.title)
    with pytest.raises(RuntimeError):
        async with remembering_dialogues():
            await storage.set_state(KEY, None)
            raise RuntimeError("the handler failed before it answered")
    assert await DatabaseStorage(storage.session_factory).get_state(KEY) == "Submit:title"


async def test_the_running_bot_saves_the_dialogue_before_each_request(bot: BotHarness) -> None:
    assert bot.runtime is not None
    middlewares = list(bot.runtime.bot.session.middleware)
    assert sum(isinstance(middleware, SaveDialoguesBeforeSpeaking) for middleware in middlewares) == 1


async def test_a_read_after_an_unsaved_write_sees_the_write(storage: DatabaseStorage) -> None:
    """Another dialogue's data written before its state is read (found by review: the read brought the
    saved row back over the write, which was then lost)."""
    await storage.set_data(KEY, {"old": 1})
    async with remembering_dialogues():
        await storage.set_data(KEY, {"a": 1})
        assert await storage.get_state(KEY) is None
        assert await storage.get_data(KEY) == {"a": 1}
        assert await storage.update_data(KEY, {"b": 2}) == {"a": 1, "b": 2}
    assert await DatabaseStorage(storage.session_factory).get_data(KEY) == {"a": 1, "b": 2}


def test_the_upsert_sets_only_the_written_fields_on_postgresql_too() -> None:
    # Built once per dialect and set of fields; SQLite runs in every test, PostgreSQL's SQL is read here.
    state_only = str(_upsert("postgresql", ("state",)).compile(dialect=postgresql.dialect()))
    assert (
        "ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
        in state_only
    )
    assert "data = excluded.data" not in state_only  # a new state keeps the data saved before
    with pytest.raises(NotImplementedError, match="mysql"):
        _upsert("mysql", ("state",))
