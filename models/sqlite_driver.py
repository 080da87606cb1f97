"""SQLite through aiosqlite: a trip to its thread only for a statement that may wait for the write lock,
and this process's writers in turn.

Trips. SQLAlchemy's aiosqlite adapter makes four trips for every statement (make a cursor, execute,
fetch, close it) and one more to end a transaction that only read. A trip wakes the database thread and
then the event loop, on another core as often as not: 0.1 ms here, where a statement of the bot takes a
few microseconds, and under load the bot spent a third of its time waiting for those wake-ups
(`make bench`). So a statement runs on the event loop's own thread whenever it cannot wait for a lock:
a SELECT (in WAL mode readers never wait for writers), anything inside a write transaction that already
holds the write lock, commit and rollback. The first write of a transaction is tried there too, with
SQLite told not to wait for the lock (busy timeout 0): it is free unless another process (the CLI, a
restore) holds it, and only then does the write make one trip to the database thread, so that SQLite's
busy handler sleeps there and never blocks the loop. (That first write used to make the trip every
time: the transaction then held the process's turn while the loop ran other updates, 3–4 ms a
transaction under load, and the other writers waited 30 ms at the median in `make bench`.) DDL and
pragmas make the trip; so does the WAL checkpoint, which SQLite would run inside a commit every 1,000
pages (10 ms here) and this adapter runs every CHECKPOINT_EVERY commits.
The connection is therefore opened for use from both threads; it is never used by both at once (a
session awaits each statement). A long read (the weekly
digest reads a big school's week in about 0.1 s) holds the loop that long; in the thread it held the
GIL for most of that anyway, turning rows into Python objects.

Turns. SQLite lets one transaction write at a time; the others wait in its busy handler, which polls
the lock with sleeps of 1, 2, 5, 10 … 100 ms. Under load (`make bench`: 400 users at once) a write
waited 27 ms on average and up to 1.5 s, mostly asleep after the lock was free again. Here a connection
about to begin a write transaction first takes this process's turn to write that database file, in the
order asked, and gives it back at commit or rollback: writers wait on an asyncio lock and start the
moment the one before is done. Other processes (the CLI, a restore) still meet SQLite's own lock and
busy timeout, which also stays the rule for correctness.

Everything else (pooling, dialect, transactions, errors) is SQLAlchemy's aiosqlite dialect as it is.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

log = logging.getLogger(__name__)

# The statements before which pysqlite begins a transaction (its "legacy" transaction control).
_BEGINS_WRITE = ("INSERT", "UPDATE", "DELETE", "REPLACE")
TURN_TIMEOUT = 10.0  # seconds, as SQLite's busy timeout: then "database is locked", as SQLite would say

# Commits of a database between two checkpoints: a bot's commit adds a few pages to the WAL, so the WAL
# is copied back into the database at about SQLite's own 1,000 pages.
CHECKPOINT_EVERY = 250
_commits: dict[str, int] = {}

T = TypeVar("T")
_Result = tuple[Any, int, int | None, list[Any]]
_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = WeakKeyDictionary()


def _turn_of(database: str) -> asyncio.Lock:
    """The turn to write `database` in the running event loop (tests run many loops in one process)."""
    return _turns.setdefault(asyncio.get_running_loop(), {}).setdefault(database, asyncio.Lock())


async def _acquire(turn: asyncio.Lock) -> None:
    # asyncio.timeout, not wait_for: Python 3.11's wait_for can lose a cancel that comes with the lock.
    async with asyncio.timeout(TURN_TIMEOUT):
        await turn.acquire()


def _count_commit(database: str) -> int:
    _commits[database] = _commits.get(database, 0) + 1
    return _commits[database]


async def _here(function: Callable[..., T], *args: Any) -> T:
    """Run `function` on the event loop's thread, at once. Through await_ all the same: SQLAlchemy's
    async API checks that a statement awaited something (AwaitRequired)."""
    return function(*args)


def _in_database_thread(
    connection: aiosqlite.Connection, operation: str, parameters: Any = None, many: bool = False
) -> _Result:
    """One trip: the statement runs in the connection's aiosqlite thread, the loop goes on meanwhile."""
    return await_(connection._execute(_run, connection._conn, operation, parameters, many))


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Result:
    """In the database thread: the statement, its rows and what the cursor knew, cursor closed."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _run_if_unlocked(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Result | None:
    """A transaction's first write, on the loop's thread, if SQLite's write lock is free now: SQLite is
    told not to wait for it (busy timeout 0). None when another process holds the lock: then the write
    waits in the database thread, with the connection's own busy timeout."""
    (busy_timeout_ms,) = connection.execute("PRAGMA busy_timeout").fetchone()
    try:
        connection.execute("PRAGMA busy_timeout = 0")
        return _run(connection, operation, parameters, many)
    except sqlite3.OperationalError as error:
        # Extended codes (BUSY_RECOVERY, ...) too; Python's own errors (undecodable text) carry no code.
        if getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
            return None
        raise
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: execute() leaves every row, the description, rowcount and lastrowid here."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    _adapt_connection: OneTripConnection

    def __init__(self, adapt_connection: OneTripConnection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # no aiosqlite cursor: made and closed within each trip
        self._soft_closed_memoized = {}
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._lastrowid

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """Nothing to close: the rows are already here."""

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapted = self._adapt_connection
        connection: aiosqlite.Connection = self._connection
        keyword = str(operation).lstrip()[:7].upper()
        try:
            try:
                if keyword.startswith("SELECT") or adapted.holds_write_lock():
                    result = await_(_here(_run, connection._conn, operation, parameters, many))
                elif keyword.startswith(_BEGINS_WRITE):
                    adapted.take_turn()
                    result = await_(_here(_run_if_unlocked, connection._conn, operation, parameters, many))
                    if result is None:  # another process holds the lock: wait for it in the database thread
                        result = _in_database_thread(connection, operation, parameters, many)
                    if parameters or not many:  # an empty executemany wrote nothing
                        adapted.has_written = True
                else:
                    result = _in_database_thread(connection, operation, parameters, many)
            finally:
                adapted.give_turn_unless_writing()
        except Exception as error:
            adapted._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = result
        self._rows = deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_database", "_turn", "has_written")

    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection, database: str) -> None:
        super().__init__(dbapi, connection)
        self._database = database
        self._turn: asyncio.Lock | None = None  # held from a write transaction's first statement to its end
        self.has_written = False  # this turn's first write went through: SQLite's write lock is held

    def _in_transaction(self) -> bool:
        connection = self._connection._connection
        return connection is not None and connection.in_transaction

    def take_turn(self) -> None:
        """Wait for this process's turn to write the database (a no-op inside a write transaction)."""
        if self._turn is not None or self._in_transaction():
            return
        turn = _turn_of(self._database)
        try:
            await_(_acquire(turn))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._turn = turn

    def holds_write_lock(self) -> bool:
        """Inside a write transaction whose first write went through: SQLite's write lock is this one's."""
        return self._turn is not None and self.has_written and self._in_transaction()

    def give_turn_unless_writing(self) -> None:
        """Give the turn back once no write transaction is open (ended, failed, or never begun)."""
        if not self._in_transaction():
            self._drop_turn()

    def _drop_turn(self) -> None:
        self.has_written = False
        if self._turn is not None:
            turn, self._turn = self._turn, None
            turn.release()

    def commit(self) -> None:
        """On the loop's thread: in WAL mode a commit waits for no lock (its fsync is 0.3–0.7 ms here).
        Every CHECKPOINT_EVERY commits of the database, a checkpoint follows in the database thread."""
        if not self._in_transaction():
            return
        try:
            await_(_here(self._connection._conn.commit))
        except Exception as error:
            self._handle_exception(error)
        finally:
            self.give_turn_unless_writing()
        if _count_commit(self._database) % CHECKPOINT_EVERY == 0:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """After the turn is given back, so that writers need not wait for it. The commit succeeded
        whatever happens here: a failed checkpoint is only logged, and the next one copies more."""
        checkpoint = "PRAGMA wal_checkpoint(PASSIVE)"
        try:
            _in_database_thread(self._connection, checkpoint)
        except sqlite3.Error as error:
            log.warning("WAL checkpoint failed: %s", type(error).__name__)

    def rollback(self) -> None:
        try:
            if self._in_transaction():  # a session that only read never began one
                await_(_here(self._connection._conn.rollback))
        except Exception as error:
            self._handle_exception(error)
        finally:
            self.give_turn_unless_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._drop_turn()

    def terminate(self) -> None:
        """What SQLAlchemy calls on a connection it gives up on (cancelled mid-statement, say)."""
        try:
            super().terminate()
        finally:
            self._drop_turn()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        database = str(arg[0] if arg else kw.get("database", ""))
        # Opened in the database thread, used from the event loop's too (never both at once).
        adapted = super().connect(*arg, **{**kw, "check_same_thread": False})
        # SQLite's own checkpoint would run inside a commit, on the loop (10 ms here, far more on an SD
        # card): this adapter checkpoints in the database thread instead (OneTripConnection.commit).
        no_auto_checkpoint = "PRAGMA wal_autocheckpoint=0"
        _in_database_thread(adapted._connection, no_auto_checkpoint)
        return OneTripConnection(self, adapted._connection, database)


def dbapi() -> OneTripDBAPI:
    """The module to give create_async_engine(module=…) for a SQLite URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
