"""`python -m bot audit --student ID` prints who saw or changed one child's data, and nothing of others."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.migrate import upgrade_database
from bot.services import audit
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel
from tests.factories import make_school
from tests.test_cli_run import run_cli


async def _school_with_events(database_url: str) -> tuple[int, int]:
    await asyncio.to_thread(upgrade_database, database_url)
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    school = await make_school(factory)
    peter, other = school.students_5a[0], school.students_5b[0]
    async with factory() as session:
        await audit.record(
            session, action="portfolio_viewed", channel=AuditChannel.BOT,
            actor_account_id=school.guardian.id, student_id=peter.id,
        )  # fmt: skip
        await audit.record(
            session, action="achievement_review_denied", channel=AuditChannel.BOT,
            actor_account_id=school.teacher_5b.id, student_id=peter.id, object_type="achievement",
            object_id=7, allowed=False,
        )  # fmt: skip
        await audit.record(
            session, action="portfolio_viewed", channel=AuditChannel.WEB,
            actor_account_id=school.admin.id, student_id=other.id,
        )  # fmt: skip
        await session.commit()
    await engine.dispose()
    return peter.id, other.id


def test_the_register_lists_one_childs_events_in_order(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"
    peter_id, _other_id = asyncio.run(_school_with_events(database_url))

    result = run_cli("audit", "--student", str(peter_id), cwd=tmp_path, env={"DATABASE_URL": database_url})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Иванов Пётр" in lines[0]
    events = [line for line in lines if "portfolio_viewed" in line or "review_denied" in line]
    assert len(events) == 2  # the other child's event is not there
    assert "разрешено" in events[0] and "ОТКАЗАНО" in events[1] and "achievement 7" in events[1]
    # Time, channel and actor on every line, under a header saying which column is which.
    assert lines[2].split() == ["Когда", "Канал", "Решение", "Действие", "Объект", "Кто"]
    assert re.match(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d  bot ", events[0])
    assert "Ольга Иванова (id" in events[0]
    assert "Сергей Иванович (id" in events[1] and " bot " in events[1]
    assert "Всего записей: 2" in result.stdout


def test_an_unknown_student_is_said_so(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"
    result = run_cli("audit", "--student", "999", cwd=tmp_path, env={"DATABASE_URL": database_url})
    assert result.returncode == 1 and "999" in result.stderr
