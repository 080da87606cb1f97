"""«Проверка выписки» in the web admin: a code from an extract checked as `/verify` checks it in the bot —
the same answer, audited on the child's register (channel web), for every staff member the policy lets
verify (`access.may_verify_extract`: any staff member, whatever their level, as in the bot)."""

from __future__ import annotations

import html
import re
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.services.results_requests import IssuedExtract, register_request
from models import AuditEvent
from models.db import SessionFactory
from models.enums import AuditChannel, RequestScope, SchoolLevel, StaffRole
from tests.admin_support import admin_client, admin_of, admin_settings, csrf_in_page, sign_in
from tests.asgi_client import AsgiClient
from tests.factories import School, assign, make_account, make_school
from tests.harness import BotHarness

ISSUED_AT = datetime(2026, 11, 24, 9, 15)  # in the school's zone (Europe/Moscow by default)


async def issue(session_factory: SessionFactory, school: School, secret: str, tz: tzinfo) -> IssuedExtract:
    """The guardian's results request for Иванов Пётр (5А, ООО), answered with an extract."""
    async with session_factory() as session:
        return await register_request(
            session,
            school.guardian.id,
            school.students_5a[0].id,
            RequestScope.ALL_YEARS,
            ISSUED_AT.replace(tzinfo=tz),
            secret,
            "МБОУ «Школа № 7»",
        )


def answer_in(page: str) -> str:
    """The check's answer as the page shows it (unescaped), or «» when there is none."""
    match = re.search(r'<div class="alert [^"]*" role="status">\s*<p class="mb-0">(.*?)</p>', page, re.S)
    if match is None:
        return ""
    text = re.sub(r"<[^>]+>", "", match.group(1))
    return html.unescape(text).split(": ", 1)[1].strip()


async def check(client: AsgiClient, csrf: str, code: str) -> str:
    response = await client.post("/admin/verify", data={"csrf_token": csrf, "code": code})
    assert response.status_code == 200, response.text[:500]
    return answer_in(response.text)


async def test_a_good_an_altered_and_an_unknown_code_are_answered_as_in_the_bot_and_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    school = await make_school(session_factory)
    issued = await issue(session_factory, school, settings.secret_key, settings.tz)
    code = issued.request.verification_code
    assert code is not None
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, school.deputy)

    page = await client.get("/admin/verify")
    assert page.status_code == 200 and "Проверка выписки" in page.text
    assert csrf_in_page(page.text) == csrf  # the form carries the session's CSRF token

    good = await check(client, csrf, code)
    assert good == (
        f"✅ Выписка № {issued.request.number} выдана 24.11.2026 в 09:15 по запросу Ольга Иванова, "
        "ученик Иванов Пётр, класс 5А, период: все годы, достижений 0, поощрений 0."
    )
    # Typed in small letters without dashes, or the link of the extract's QR code: the same extract.
    assert await check(client, csrf, code.replace("-", "").lower()) == good
    raw = code.replace("-", "")
    assert await check(client, csrf, f"https://t.me/school_test_bot?start=verify_{raw}") == good

    altered = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert await check(client, csrf, altered) == "❌ Код не найден или изменён."
    assert await check(client, csrf, "ABCD-EFGH-IJKL-MNOP-QRST-UVWX") == "❌ Код не найден или изменён."
    assert await check(client, csrf, "hello") == "❌ Код не найден или изменён."

    # Without the form's token nothing is checked (nor recorded).
    forged = await client.post("/admin/verify", data={"code": code})
    assert forged.status_code == 403 and "Форма устарела" in forged.text

    async with session_factory() as session:
        rows = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "extract_verified").order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(r.student_id, r.object_id, r.details) for r in rows] == [
        *[(school.students_5a[0].id, str(issued.request.id), None)] * 3,
        *[(None, None, "unknown code")] * 3,
    ]
    assert {(r.channel, r.actor_account_id, r.allowed) for r in rows} == {
        (AuditChannel.WEB, school.deputy.id, True)
    }
    assert all(code not in (r.details or "") for r in rows)  # the code is no value to keep in the log


async def test_a_deputy_of_another_level_gets_what_the_bot_tells_them(bot: BotHarness) -> None:
    """The policy lets any staff member check any extract (`may_verify_extract`: they hold the paper
    whose authenticity they check), so another level's deputy learns in the admin exactly what `/verify`
    tells them in the bot — and no more."""
    school = await make_school(bot.session_factory)
    async with bot.session_factory() as session:
        other_deputy = await make_account(session, "Завуч Лебедева")
        await assign(session, other_deputy, StaffRole.DEPUTY, level=SchoolLevel.SOO)
        await session.commit()
    issued = await issue(bot.session_factory, school, bot.settings.secret_key, bot.settings.tz)
    code = issued.request.verification_code
    assert code is not None
    deputy_in_bot = bot.server.user(id=other_deputy.telegram_id, first_name="Лебедева", started=True)
    admin = admin_of(bot)
    csrf = await sign_in(admin, bot.session_factory, other_deputy)

    altered = code[:-1] + ("A" if code[-1] != "A" else "B")
    for typed, expected in ((code, "✅ Выписка № "), (altered, "❌ Код не найден")):
        deputy_in_bot.send_text(f"/verify {typed}")
        told = await deputy_in_bot.wait_for(expected)
        assert await check(admin, csrf, typed) == told.text
    assert "Иванов Пётр, класс 5А," in await check(admin, csrf, code)

    async with bot.session_factory() as session:
        rows = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "extract_verified").order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(r.channel, r.student_id, r.actor_account_id) for r in rows] == [
        (AuditChannel.BOT, school.students_5a[0].id, other_deputy.id),
        (AuditChannel.WEB, school.students_5a[0].id, other_deputy.id),
        (AuditChannel.BOT, None, other_deputy.id),
        (AuditChannel.WEB, None, other_deputy.id),
        (AuditChannel.WEB, school.students_5a[0].id, other_deputy.id),
    ]
