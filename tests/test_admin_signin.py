"""Signing in to the web admin: one-time links, server-side sessions and their timeouts, sign-out,
the cookie's flags, CSRF on every form, and the security headers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import time_machine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import AdminSession, AuditEvent, Student
from models.base import utcnow
from models.db import SessionFactory
from models.enums import StudentStatus
from tests.admin_support import admin_client, admin_settings, sign_in, sign_in_link, start_session_directly
from tests.factories import make_school


async def _sessions(session_factory: SessionFactory) -> list[AdminSession]:
    async with session_factory() as session:
        return list((await session.exec(select(AdminSession))).all())


async def test_a_link_signs_in_once_and_a_second_opening_gets_a_clear_page(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    settings = admin_settings(tmp_path, database_url)
    link = await sign_in_link(session_factory, school.deputy)

    first = admin_client(settings, engine)
    opened = await first.get(link)
    assert opened.status_code == 302 and opened.location == "http://testserver/admin/"
    cookie = opened.header("set-cookie") or ""
    assert cookie.startswith("portfolio_admin=")
    assert {"HttpOnly", "SameSite=Lax", "Path=/admin"} <= {part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie  # plain http in this test; see the https test below
    dashboard = await first.get("/admin/")
    assert dashboard.status_code == 200
    assert "Завуч Морозова" in dashboard.text and "МБОУ «Школа № 7»" in dashboard.text

    again = await admin_client(settings, engine).get(link)
    assert again.status_code == 410
    assert "Ссылка уже использована" in again.text
    assert again.header("set-cookie") is None
    assert len(await _sessions(session_factory)) == 1


async def test_a_link_expires_after_ten_minutes(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    settings = admin_settings(tmp_path, database_url)
    link = await sign_in_link(session_factory, school.admin)
    with time_machine.travel(utcnow() + timedelta(minutes=10, seconds=1), tick=False):
        late = await admin_client(settings, engine).get(link)
    assert late.status_code == 410
    assert "Ссылка устарела" in late.text
    assert await _sessions(session_factory) == []

    made_up = await admin_client(settings, engine).get("/admin/login?token=not-a-real-token")
    assert made_up.status_code == 404 and "Ссылка не подходит" in made_up.text


async def test_a_link_of_someone_who_lost_the_role_opens_nothing(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    link = await sign_in_link(session_factory, school.teacher_5a)
    response = await admin_client(admin_settings(tmp_path, database_url), engine).get(link)
    assert response.status_code == 403
    assert "для заместителей директора и администрации" in response.text
    assert await _sessions(session_factory) == []


async def test_a_session_ends_after_thirty_idle_minutes(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    await sign_in(client, session_factory, school.admin)
    with time_machine.travel(utcnow() + timedelta(minutes=29), tick=False):
        assert (await client.get("/admin/")).status_code == 200  # activity restarts the idle clock
    with time_machine.travel(utcnow() + timedelta(minutes=29 + 29), tick=False):
        assert (await client.get("/admin/")).status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=29 + 29 + 31), tick=False):
        idle = await client.get("/admin/")
    assert idle.status_code == 302 and idle.location == "http://testserver/admin/login"
    assert "portfolio_admin" not in client.cookies  # the stale cookie is cleared
    assert await _sessions(session_factory) == []


async def test_a_session_ends_eight_hours_after_sign_in_however_busy(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    await sign_in(client, session_factory, school.deputy)
    start = utcnow()
    for minutes in range(20, 8 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert (await client.get("/admin/")).status_code == 200, minutes
    with time_machine.travel(start + timedelta(hours=8, minutes=1), tick=False):
        assert (await client.get("/admin/")).status_code == 302


async def test_sign_out_ends_the_session_on_the_server(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    await sign_in(client, session_factory, school.admin)
    kept_cookie = client.cookies["portfolio_admin"]
    out = await client.get("/admin/logout")
    assert out.status_code == 302 and out.location == "http://testserver/admin/login"
    assert await _sessions(session_factory) == []
    # Even a copy of the old cookie opens nothing now.
    client.cookies["portfolio_admin"] = kept_cookie
    assert (await client.get("/admin/")).status_code == 302
    async with session_factory() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.actor_account_id == school.admin.id)
            )
        ).all()
    assert {"admin_link_issued", "admin_signed_in", "admin_signed_out"} <= set(actions)


async def test_signing_in_again_gives_a_new_session_id_and_ends_the_old_one(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    await sign_in(client, session_factory, school.admin)
    first = client.cookies["portfolio_admin"]
    await sign_in(client, session_factory, school.admin)
    assert client.cookies["portfolio_admin"] != first
    assert len(await _sessions(session_factory)) == 1


async def test_the_cookie_is_secure_under_https(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    settings = admin_settings(tmp_path, database_url).model_copy(
        update={"admin_public_url": "https://school.example"}
    )
    response = await admin_client(settings, engine).get(await sign_in_link(session_factory, school.admin))
    assert "Secure" in (response.header("set-cookie") or "")


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    token = await sign_in(client, session_factory, school.admin)
    target = f"/admin/student/{school.students_5b[0].id}/status"
    other_browser = admin_client(admin_settings(tmp_path, database_url), engine)
    other_token = await start_session_directly(other_browser, session_factory, school.deputy)

    for data in (
        {"status": "left"},
        {"status": "left", "csrf_token": "forged"},
        {"status": "left", "csrf_token": other_token},
    ):
        refused = await client.post(target, data=data)
        assert refused.status_code == 403
        assert "Форма устарела" in refused.text
    async with session_factory() as session:
        assert (await session.get(Student, school.students_5b[0].id)).status == StudentStatus.ACTIVE

    accepted = await client.post(target, data={"status": "left", "csrf_token": token})
    assert accepted.status_code == 303
    async with session_factory() as session:
        student = await session.get(Student, school.students_5b[0].id)
    assert student.status == StudentStatus.LEFT and student.status_changed_at is not None


async def test_every_response_carries_the_security_headers(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    for path in ("/admin/login", "/admin/", "/admin/statics/css/main.css"):
        response = await client.get(path)
        csp = response.header("content-security-policy") or ""
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.header("x-frame-options") == "DENY"
        assert response.header("referrer-policy") == "no-referrer"
