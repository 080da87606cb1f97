"""Human numbers of the year, e.g. «2026-0142»: one counter row per series and year."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Counter


async def next_number(session: AsyncSession, series: str, year: int) -> str:
    """The next number of `series` in `year`, e.g. «2026-0142». Safe under concurrency.

    One atomic upsert: PostgreSQL locks the counter row until commit, SQLite the whole database; so
    concurrent callers get distinct numbers, and a rolled-back one gives its number back. Make it the
    first write of the transaction: that is also where SQLite waits (busy_timeout) for the write lock.
    """
    name = f"{series}:{year}"
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Counter)
        .values(name=name, value=1)
        .on_conflict_do_update(index_elements=["name"], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    )
    value = (await session.exec(statement)).scalar_one()
    return f"{year}-{value:04d}"
