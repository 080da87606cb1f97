"""The one-trip SQLite adapter behaves as SQLAlchemy's own aiosqlite adapter, with fewer thread trips."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from models import sqlite_driver
from models.db import create_engine


@pytest.fixture(params=["ours", "stock"])
async def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'driver.sqlite3'}"
    engine = create_engine(url) if request.param == "ours" else create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_the_app_engine_uses_the_one_trip_adapter(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}")
    try:
        assert isinstance(engine.dialect.dbapi, sqlite_driver.OneTripDBAPI)
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.dbapi_connection, sqlite_driver.OneTripConnection)
    finally:
        await engine.dispose()


async def test_rows_rowcount_lastrowid_and_executemany(any_engine: AsyncEngine) -> None:
    async with any_engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO item (name) VALUES ('первый')"))
        assert inserted.lastrowid == 1
        await connection.execute(
            text("INSERT INTO item (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        updated = await connection.execute(text("UPDATE item SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        returned = await connection.execute(text("INSERT INTO item (name) VALUES ('d') RETURNING id, name"))
        assert returned.mappings().all() == [{"id": 4, "name": "d"}]
    async with any_engine.connect() as connection:
        result = await connection.execute(text("SELECT id, name FROM item ORDER BY id"))
        assert list(result.keys()) == ["id", "name"]
        assert result.all() == [(1, "первый"), (2, "b!"), (3, "c!"), (4, "d")]
        empty = await connection.execute(text("SELECT id FROM item WHERE id < 0"))
        assert empty.all() == []


async def test_rollback_undoes_writes_and_errors_are_sqlalchemys(any_engine: AsyncEngine) -> None:
    async with any_engine.connect() as connection:
        await connection.execute(text("INSERT INTO item (name) VALUES ('kept')"))
        await connection.commit()
        await connection.execute(text("INSERT INTO item (name) VALUES ('dropped')"))
        await connection.rollback()
        with pytest.raises(exc.IntegrityError):
            await connection.execute(text("INSERT INTO item (name) VALUES ('kept')"))
        await connection.rollback()
        with pytest.raises(exc.OperationalError):
            await connection.execute(text("SELECT nothing FROM nowhere"))
        await connection.rollback()
        names = (await connection.execute(text("SELECT name FROM item"))).scalars().all()
    assert names == ["kept"]


async def test_trips_only_for_statements_that_may_wait_for_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the adapter is for: SQLAlchemy's own makes four trips per statement and one per rollback;
    a trip wakes another thread (0.1 ms here) where the statement itself takes microseconds."""
    trips: list[str] = []
    real_execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real_execute(self, fn, *args, **kwargs)

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite3'}")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # the first connection's set-up trips
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 41 + 1"))).scalar_one() == 42
        assert trips == []  # a read waits for no lock: on the loop's thread, and ending it costs nothing
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
            await connection.execute(text("INSERT INTO t VALUES (2)"))
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
        # DDL may wait for the lock; the transaction's first write is tried here and went through (no
        # other process held the lock), the second write and the commit come when it is held
        assert trips == ["_run"]
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT sum(x) FROM t"))).scalar_one() == 3
    finally:
        await engine.dispose()


async def test_a_write_waiting_for_another_process_does_not_block_the_loop(tmp_path: Path) -> None:
    """Another process (the CLI, a backup) holds the write lock: our write waits in the database thread
    while the bot's other updates go on; our reads go on too (WAL)."""
    database = tmp_path / "busy.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    other = sqlite3.connect(database, isolation_level=None)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
        other.execute("BEGIN IMMEDIATE")  # the other process's write transaction
        other.execute("INSERT INTO item (name) VALUES ('theirs')")

        async def write() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO item (name) VALUES ('ours')"))

        writing = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # 0.2 s of the loop's life while our write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writing.done()
        async with engine.connect() as connection:  # a read meanwhile: not blocked, sees committed rows
            assert (await connection.execute(text("SELECT count(*) FROM item"))).scalar_one() == 0
        assert ticks == 20
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
        async with engine.connect() as connection:
            names = (await connection.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
        assert names == ["theirs", "ours"]
    finally:
        other.close()
        await engine.dispose()


async def test_writers_take_turns_in_the_order_they_asked(tmp_path: Path) -> None:
    """A second writer waits for the first to commit on this process's turn, not in SQLite's busy loop."""
    database = tmp_path / "turns.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
        order: list[str] = []

        async def write(name: str, hold: asyncio.Event | None = None) -> None:
            async with engine.connect() as connection:
                await connection.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})
                order.append(f"{name} wrote")
                if hold is not None:
                    await hold.wait()
                await connection.commit()
                order.append(f"{name} committed")

        hold = asyncio.Event()
        first = asyncio.create_task(write("first", hold))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(write("second"))
        await asyncio.sleep(0.2)  # connected and asking for the turn before the third asks
        third = asyncio.create_task(write("third"))
        await asyncio.sleep(0.2)
        assert order == ["first wrote"]  # the others wait for their turn...
        assert sqlite_driver._turn_of(str(database)).locked()
        hold.set()
        await asyncio.gather(first, second, third)
        assert order == [  # ...and take it in the order they asked, each as soon as the one before ends
            "first wrote",
            "first committed",
            "second wrote",
            "second committed",
            "third wrote",
            "third committed",
        ]
        assert not sqlite_driver._turn_of(str(database)).locked()
    finally:
        await engine.dispose()


async def test_the_turn_comes_back_after_rollback_failure_and_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "back.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    turn = None
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
        turn = sqlite_driver._turn_of(str(database))
        assert not turn.locked()
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO item (name) VALUES ('b')"))
            assert turn.locked()
            await connection.rollback()
            assert not turn.locked()
            with pytest.raises(exc.IntegrityError):
                await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
            await connection.rollback()
            assert not turn.locked()
            await connection.execute(text("UPDATE item SET name = 'c'"))
            assert turn.locked()
        assert not turn.locked()  # returned to the pool: rolled back
        monkeypatch.setattr(sqlite_driver, "TURN_TIMEOUT", 0.05)
        async with engine.connect() as holder, engine.connect() as waiter:
            await holder.execute(text("UPDATE item SET name = 'd'"))
            with pytest.raises(exc.OperationalError, match="database is locked"):
                await waiter.execute(text("UPDATE item SET name = 'e'"))
        assert not turn.locked()
    finally:
        await engine.dispose()
    assert turn is not None and not turn.locked()


async def test_an_empty_executemany_does_not_count_as_holding_the_write_lock(tmp_path: Path) -> None:
    """Python's sqlite3 begins a transaction for it and writes nothing: the next write is still the
    transaction's first, tried without waiting and sent to the database thread if another process holds
    the lock, where waiting for it blocks no one (found by review)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
        async with engine.connect() as connection:
            adapted = (await connection.get_raw_connection()).dbapi_connection
            cursor = adapted.cursor()
            await connection.run_sync(lambda _: cursor.executemany("INSERT INTO item (name) VALUES (?)", []))
            assert not adapted.holds_write_lock()
            await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
            assert adapted.holds_write_lock()
            await connection.commit()
    finally:
        await engine.dispose()


async def test_checkpoints_run_in_the_database_thread_every_so_many_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's automatic checkpoint would run inside a commit on the loop (10 ms here, far more on an SD
    card): it is off, and the adapter checkpoints in the database thread instead."""
    database = tmp_path / "wal.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    statements: list[str] = []
    real_execute = aiosqlite.Connection._execute

    async def recorded(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn is sqlite_driver._run:
            statements.append(args[1])
        return await real_execute(self, fn, *args, **kwargs)

    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
            assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
        monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 3)
        monkeypatch.setitem(sqlite_driver._commits, str(database), 0)
        monkeypatch.setattr(aiosqlite.Connection, "_execute", recorded)
        for name in "abcdef":
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})
        checkpoints = [s for s in statements if "wal_checkpoint" in s]
        assert checkpoints == ["PRAGMA wal_checkpoint(PASSIVE)"] * 2  # after the 3rd and the 6th commit
        with sqlite3.connect(database) as reader:
            assert reader.execute("SELECT count(*) FROM item").fetchone() == (6,)
    finally:
        await engine.dispose()


def test_a_first_write_is_tried_without_waiting_and_the_busy_timeout_is_kept(tmp_path: Path) -> None:
    database = tmp_path / "try.sqlite3"
    other = sqlite3.connect(database, isolation_level=None)
    ours = sqlite3.connect(database, timeout=30)  # pysqlite's legacy transactions, as the adapter's
    try:
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

        started = time.perf_counter()
        assert (
            sqlite_driver._run_if_unlocked(ours, "INSERT INTO item (name) VALUES ('ours')", None, False)
            is None
        )
        assert time.perf_counter() - started < 10  # not the 30 s busy timeout: it did not wait
        assert ours.execute("PRAGMA busy_timeout").fetchone() == (30000,)

        other.execute("COMMIT")
        written = sqlite_driver._run_if_unlocked(ours, "INSERT INTO item (name) VALUES ('ours')", None, False)
        assert written is not None and written[1] == 1  # one row, through at once now
        ours.commit()
        with pytest.raises(sqlite3.IntegrityError):  # any other error is the statement's own
            sqlite_driver._run_if_unlocked(ours, "INSERT INTO item (name) VALUES ('ours')", None, False)
        undecodable = "INSERT INTO item (name) VALUES (CAST(x'ff' AS TEXT)) RETURNING name"
        with pytest.raises(sqlite3.OperationalError, match="decode"):  # Python's own, with no SQLite code
            sqlite_driver._run_if_unlocked(ours, undecodable, None, False)
        assert ours.execute("PRAGMA busy_timeout").fetchone() == (30000,)
    finally:
        ours.close()
        other.close()
