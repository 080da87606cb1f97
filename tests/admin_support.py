"""The web admin in tests: the app on a migrated database, a school with a second level, and signing in
the way people do — a link from `/admin`, opened in a browser (`tests.asgi_client`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from admin.app import create_app
from bot.config import Settings
from bot.services import admin_auth
from bot.services.evidence import store
from bot.services.submissions import SubmissionDraft, create_submission
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models import Account, Achievement, AdminSession, SchoolClass, Student
from models.base import utcnow
from models.db import SessionFactory
from models.enums import SchoolLevel, Source, StaffRole
from tests.asgi_client import AsgiClient
from tests.factories import School, assign, make_account, make_class, make_school, make_student
from tests.harness import BotHarness

PUBLIC_URL = "http://testserver"
ROLES = ("admin", "deputy", "other_deputy", "teacher", "anonymous")


def admin_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        media_dir=tmp_path / "media",
        admin_public_url=PUBLIC_URL,
        school_name="МБОУ «Школа № 7»",
        secret_key="test-secret",
    )


@dataclass
class AdminSchool:
    school: School
    class_10a: SchoolClass
    student_10a: Student  # of another level (СОО)
    other_deputy: Account  # deputy of СОО
    pending_5a: Achievement  # submitted by the guardian for students_5a[0]
    pending_10a: Achievement


def png_bytes(color: str = "red") -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


async def submit(
    session_factory: SessionFactory, media_dir: Path, student: Student, submitter: Account, title: str
):
    stored = await store(media_dir, png_bytes())
    draft = SubmissionDraft(
        student_id=student.id,
        category=Category.OLYMPIAD,
        level=AchievementLevel.REGIONAL,
        result=AchievementResult.WINNER,
        title=title,
        event_date=date(2026, 11, 20),
        source=Source.OUR_SCHOOL,
        files=[stored],
    )
    async with session_factory() as session:
        return await create_submission(session, draft, submitter.id, utcnow())


async def make_admin_school(session_factory: SessionFactory, media_dir: Path) -> AdminSchool:
    school = await make_school(session_factory)
    async with session_factory() as session:
        class_10a = await make_class(session, 10, "А")
        student_10a = await make_student(session, class_10a, "Сидорова", "Вероника")
        other_deputy = await make_account(session, "Завуч Лебедева")
        await assign(session, other_deputy, StaffRole.DEPUTY, level=SchoolLevel.SOO)
        await session.commit()
    pending_5a = await submit(
        session_factory, media_dir, school.students_5a[0], school.guardian, "Олимпиада по физике"
    )
    pending_10a = await submit(session_factory, media_dir, student_10a, school.coach, "Турнир по шахматам")
    return AdminSchool(school, class_10a, student_10a, other_deputy, pending_5a, pending_10a)


def admin_client(settings: Settings, engine: AsyncEngine) -> AsgiClient:
    return AsgiClient(create_app(settings, engine, bot_username="school_test_bot"))


async def sign_in_link(session_factory: SessionFactory, account: Account) -> str:
    """The link `/admin` would send this account (the path and query to open)."""
    async with session_factory() as session:
        token = await admin_auth.issue_link(session, account.id, utcnow())
    url = urlsplit(admin_auth.login_url(PUBLIC_URL, token))
    return f"{url.path}?{url.query}"


async def start_session_directly(
    client: AsgiClient, session_factory: SessionFactory, account: Account
) -> str:
    """A session for someone the admin isn't for (the bot never gives them a link, but a role may be
    taken away after sign-in); returns its CSRF token."""
    async with session_factory() as session:
        new = await admin_auth.start_session(session, account.id, utcnow())
    client.cookies["portfolio_admin"] = new.session_id
    return new.csrf_token


async def sign_in(client: AsgiClient, session_factory: SessionFactory, account: Account) -> str:
    """Open the account's sign-in link in `client`; returns the new session's CSRF token (every form of
    the admin carries it)."""
    response = await client.get(await sign_in_link(session_factory, account))
    assert response.status_code == 302, response.text[:300]
    async with session_factory() as session:
        query = select(AdminSession).where(AdminSession.account_id == account.id)
        row = (await session.exec(query.order_by(col(AdminSession.id).desc()))).first()
    assert row is not None
    return row.csrf_token


def csrf_in_page(html: str) -> str | None:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    return match.group(1) if match else None


def admin_of(bot: BotHarness) -> AsgiClient:
    """The admin app as `make run` builds it beside the bot: same engine, catalogs and outbox sender."""
    rt = bot.runtime
    assert rt is not None
    app = create_app(
        bot.settings,
        rt.engine,
        bot_username="school_test_bot",
        i18n=rt.i18n,
        on_queued=rt.background.sender.wake,
    )
    return AsgiClient(app)
