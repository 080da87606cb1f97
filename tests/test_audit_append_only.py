"""The audit log cannot be changed or erased, even by SQL that goes around the services."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError
from sqlmodel import select

from bot.services import audit
from models import AuditEvent
from models.db import SessionFactory
from models.enums import AuditChannel


async def add_event(session_factory: SessionFactory) -> int:
    async with session_factory() as session:
        await audit.record(
            session, action="portfolio_viewed", channel=AuditChannel.BOT, student_id=7, object_type="student"
        )
        await session.commit()
        return (await session.exec(select(AuditEvent.id).order_by(AuditEvent.id.desc()))).first()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(allowed=False),
        update(AuditEvent).values(student_id=None),
        delete(AuditEvent),
        text("DELETE FROM audit_event"),
    ],
    ids=["update allowed", "update student", "delete", "raw delete"],
)
async def test_update_and_delete_abort(session_factory: SessionFactory, statement: object) -> None:
    event_id = await add_event(session_factory)
    async with session_factory() as session:
        with pytest.raises(DatabaseError, match="audit_event is append-only"):
            await session.exec(statement)  # type: ignore[call-overload]
        await session.rollback()
    async with session_factory() as session:
        event = await session.get(AuditEvent, event_id)
        assert (event.allowed, event.student_id, event.action) == (True, 7, "portfolio_viewed")


async def test_changing_a_loaded_event_through_the_orm_aborts(session_factory: SessionFactory) -> None:
    event_id = await add_event(session_factory)
    async with session_factory() as session:
        event = await session.get(AuditEvent, event_id)
        event.details = "edited"
        with pytest.raises(DatabaseError, match="append-only"):
            await session.commit()


async def test_appending_still_works(session_factory: SessionFactory) -> None:
    await add_event(session_factory)
    await add_event(session_factory)
    async with session_factory() as session:
        assert len((await session.exec(select(AuditEvent))).all()) == 2
