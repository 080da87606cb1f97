"""The admin's pages at work: dashboard numbers, roster import with a preview, invite sheets and staff
links, editing a student and marking them left (audited), achievement filters and the audit log."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import time_machine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import (
    Achievement,
    AuditEvent,
    DigestDelivery,
    Invite,
    ResultsRequest,
    Reward,
    SchoolClass,
    Student,
)
from models.db import SessionFactory
from models.enums import AuditChannel, InvitePurpose, StudentStatus
from tests.admin_support import admin_client, admin_settings, make_admin_school, sign_in, submit
from tests.factories import make_school

ROSTER = (
    "Класс;Фамилия;Имя;Отчество\n"
    "5А;Иванов;Пётр;\n"  # already there: unchanged
    "6В;Новикова;Дарья;Игоревна\n"  # new class, new student
    "13А;Ошибкин;Ошибка;\n"  # no such grade
).encode()


async def test_the_dashboard_counts_the_queue_the_week_and_who_joined(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    await submit(
        session_factory,
        settings.media_dir,
        world.school.students_5a[1],
        world.school.guardian,
        "Конкурс чтецов",
    )
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)
    page = (await client.get("/admin/")).text
    # 5А has two pending, none older than a day; 10А is another level's and is not shown.
    assert "<td>5А</td><td>2</td><td>0</td>" in page
    assert "10А" not in page
    assert "<tr><td>Новых достижений</td><td>2</td></tr>" in page
    # Coverage: 5А has one student of two with a parent in the bot.
    assert "<tr><td>5А</td><td>2</td><td>1</td><td>0</td></tr>" in page


async def test_roster_import_shows_a_preview_and_applies_only_when_asked(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    csrf = await sign_in(client, session_factory, school.admin)

    preview = await client.post(
        "/admin/roster/preview", data={"csrf_token": csrf}, files={"file": ("roster.csv", ROSTER, "text/csv")}
    )
    assert preview.status_code == 200
    assert "Добавлено: 1, обновлено: 0, без изменений: 1, отклонено: 1" in preview.text
    assert "Новикова Дарья Игоревна" in preview.text and "Новые классы: 6В" in preview.text
    async with session_factory() as session:
        assert (await session.exec(select(Student).where(Student.surname == "Новикова"))).first() is None
    token = preview.text.split('name="upload_token" value="')[1].split('"')[0]

    applied = await client.post("/admin/roster/apply", data={"csrf_token": csrf, "upload_token": token})
    assert applied.status_code == 200 and "Список загружен" in applied.text
    async with session_factory() as session:
        added = (await session.exec(select(Student).where(Student.surname == "Новикова"))).one()
        assert (await session.get(SchoolClass, added.class_id)).label == "6В"
        audit = (await session.exec(select(AuditEvent).where(AuditEvent.action == "roster_imported"))).one()
    assert audit.channel == AuditChannel.WEB and audit.actor_account_id == school.admin.id
    again = await client.post("/admin/roster/apply", data={"csrf_token": csrf, "upload_token": token})
    assert again.status_code == 400 and "загрузите его ещё раз" in again.text

    for name, broken in (
        ("roster.csv", b"\x00\x01"),
        ("roster.txt", b"\xff\xfe\x00"),  # UTF-16 cut short
        ("roster.xlsx", b"PK\x03\x04 not a workbook"),
    ):
        unreadable = await client.post(
            "/admin/roster/preview",
            data={"csrf_token": csrf},
            files={"file": (name, broken, "application/octet-stream")},
        )
        assert unreadable.status_code == 400, name
        assert 'class="alert alert-danger"' in unreadable.text, name


async def test_invite_sheets_and_staff_links(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    csrf = await sign_in(client, session_factory, school.admin)

    sheet = await client.post(
        f"/admin/invites/class/{school.class_5a.id}", data={"csrf_token": csrf, "guardians": "2"}
    )
    assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF")
    assert sheet.header("content-type") == "application/pdf"
    staff = await client.post(
        "/admin/invites/staff", data={"csrf_token": csrf, "role": "deputy", "level": "soo", "class_id": "1"}
    )
    assert staff.status_code == 200
    assert "https://t.me/school_test_bot?start=" in staff.text and "Заместитель директора" in staff.text
    async with session_factory() as session:
        invites = (await session.exec(select(Invite))).all()
    assert sum(i.purpose == InvitePurpose.GUARDIAN for i in invites) == 4  # two children, two codes each
    assert [(i.role, i.level) for i in invites if i.purpose == InvitePurpose.STAFF] == [("deputy", "soo")]
    assert all(i.created_by_account_id == school.admin.id for i in invites)


async def test_editing_a_student_and_marking_them_left_is_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    student = school.students_5b[0]
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    csrf = await sign_in(client, session_factory, school.admin)

    form = await client.get(f"/admin/student/edit/{student.id}")
    assert f'name="csrf_token" value="{csrf}"' in form.text
    saved = await client.post(
        f"/admin/student/edit/{student.id}",
        data={
            "csrf_token": csrf,
            "surname": "Кузнецов",
            "name": "Илья",
            "patronymic": "Андреевич",
            "save": "Save",
        },
    )
    assert saved.status_code == 302
    details = await client.get(f"/admin/student/details/{student.id}")
    assert "Андреевич" in details.text and "Изменить статус" in details.text
    await client.post(f"/admin/student/{student.id}/status", data={"csrf_token": csrf, "status": "graduated"})
    async with session_factory() as session:
        stored = await session.get(Student, student.id)
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.student_id == student.id).order_by(AuditEvent.id)
            )
        ).all()
    assert (stored.patronymic, stored.status) == ("Андреевич", StudentStatus.GRADUATED)
    assert stored.status_changed_at is not None
    assert actions == ["student_viewed", "student_updated", "student_viewed", "student_status_changed"]

    log = await client.get(f"/admin/audit-event/list?student={student.id}")
    assert "student_status_changed" in log.text and "student_viewed" in log.text


async def test_achievements_filter_by_class_status_and_period(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    await submit(
        session_factory,
        settings.media_dir,
        world.school.students_5b[0],
        world.school.guardian,
        "Конкурс чтецов",
    )
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    by_class = (await client.get(f"/admin/achievement/list?class={world.school.class_5b.id}")).text
    assert "Конкурс чтецов" in by_class and "Олимпиада по физике" not in by_class
    pending = (await client.get("/admin/achievement/list?status=pending&level=regional&period=year")).text
    assert "Олимпиада по физике" in pending and "Турнир по шахматам" in pending
    approved = (await client.get("/admin/achievement/list?status=approved")).text
    assert "Олимпиада по физике" not in approved
    async with session_factory() as session:
        views = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "achievement_list_viewed"))
        ).all()
    assert len([v for v in views if v.student_id is None]) == 3  # a row per page...
    assert {v.actor_account_id for v in views} == {world.school.admin.id}
    by_class_children = {world.school.students_5b[0].id}  # ...and one per child each page showed
    assert by_class_children < {v.student_id for v in views}


async def test_a_page_of_a_list_is_a_view_of_each_child_on_it_and_is_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)

    for path in ("/admin/student/list", "/admin/achievement/list"):
        await client.get(path)

    async with session_factory() as session:
        rows = (
            await session.exec(
                select(AuditEvent).where(col(AuditEvent.action).endswith("_list_viewed"), AuditEvent.allowed)
            )
        ).all()
    seen = {(r.action, r.student_id) for r in rows if r.student_id is not None}
    ooo = world.school.students_5a + world.school.students_5b
    assert seen == {("student_list_viewed", s.id) for s in ooo} | {
        ("achievement_list_viewed", world.school.students_5a[0].id)
    }  # 10А's child isn't on the deputy's pages, so isn't in the log as seen
    assert all(r.channel == AuditChannel.WEB and r.actor_account_id == world.school.deputy.id for r in rows)


async def test_dates_are_shown_in_the_schools_zone_and_russian_format(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)  # the school is in Moscow (UTC+3)
    world = await make_admin_school(session_factory, settings.media_dir)
    late_evening = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)  # 01:30 on the 28th in Moscow
    async with session_factory() as session:
        achievement = await session.get(Achievement, world.pending_5a.id)
        achievement.created_at = late_evening
        achievement.event_date = date(2026, 11, 28)  # «today» at the school
        student = await session.get(Student, world.school.students_5a[0].id)
        student.birth_date = date(2015, 3, 14)
        student.created_at = late_evening
        session.add_all([achievement, student])
        await session.commit()
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    with time_machine.travel(late_evening, tick=False):
        details = (await client.get(f"/admin/achievement/details/{achievement.id}")).text
        student_page = (await client.get(f"/admin/student/details/{student.id}")).text
        this_week = (await client.get("/admin/achievement/list?period=week")).text

    assert "28.11.2026 01:30" in details and "28.11.2026" in details
    assert "UTC" not in details and "+00:00" not in details
    assert "14.03.2015" in student_page and "28.11.2026 01:30" in student_page
    assert "2015-03-14" not in student_page and "+00:00" not in student_page
    # The last 7 days end with the school's today (the 28th), not UTC's (the 27th).
    assert "Олимпиада по физике" in this_week


async def test_stored_codes_are_shown_in_words_rewards_digests_and_the_log(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    async with session_factory() as session:
        reward = Reward(
            student_id=world.school.students_5a[0].id,
            kind="commendation",
            reason="За олимпиаду",
            granted_on=date(2026, 11, 20),
            granted_by_account_id=world.school.admin.id,
        )
        session.add(reward)
        for account, scope in (
            (world.school.admin, "school"),
            (world.school.deputy, "level:ooo"),
            (world.school.teacher_5a, f"class:{world.school.class_5a.id}"),
        ):
            session.add(DigestDelivery(period="2026-W48", account_id=account.id, scope=scope))
        await session.commit()
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    rewards = (await client.get("/admin/reward/list")).text
    assert "Похвальный лист" in rewards and "commendation" not in rewards
    digests = (await client.get("/admin/digest-delivery/list")).text
    assert "23.11.2026 – 29.11.2026" in digests and "2026-W48" not in digests
    assert "Вся школа" in digests and "Уровень ООО" in digests and "Класс 5А" in digests
    assert "level:ooo" not in digests and "class:" not in digests
    log = (await client.get("/admin/audit-event/list")).text
    assert "веб-админка" in log and ">web<" not in log


async def test_searching_students_ignores_the_case_of_cyrillic_letters(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    await sign_in(client, session_factory, school.admin)

    for term in ("Смирн", "смирн", "СМИРНОВА"):
        found = (await client.get(f"/admin/student/list?search={quote(term)}")).text
        assert "Смирнова" in found and "Иванов" not in found, term


async def test_the_audit_log_filters_by_student_actor_and_action_in_russian(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    deputy = admin_client(settings, engine)
    await sign_in(deputy, session_factory, world.school.deputy)
    await deputy.get(f"/admin/student/details/{world.school.students_5b[0].id}")  # Кузнецов, 5Б
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    page = (await client.get("/admin/audit-event/list")).text
    for english in ("Select operation", "Enter value", "Apply Filter", ">All<", "Equals"):
        assert english not in page, english
    assert "№ или фамилия" in page and "№ аккаунта или имя" in page

    by_surname = table_of(await client.get(f"/admin/audit-event/list?student={quote('кузн')}"))
    kuznetsov, smirnova = world.school.students_5b[0].id, world.school.students_5a[1].id
    assert f"<td>{kuznetsov}</td>" in by_surname and f"<td>{smirnova}</td>" not in by_surname
    by_actor = table_of(await client.get(f"/admin/audit-event/list?actor={quote('морозова')}"))
    assert "Завуч Морозова" in by_actor and "admin_signed_in" in by_actor and "Директор" not in by_actor
    assert "student_viewed" in by_actor
    narrowed = table_of(
        await client.get(f"/admin/audit-event/list?actor={quote('морозова')}&action=student_viewed")
    )
    assert "student_viewed" in narrowed and "admin_signed_in" not in narrowed
    nobody = table_of(await client.get(f"/admin/audit-event/list?student={'9' * 25}"))
    assert "student_viewed" not in nobody


def table_of(response: object) -> str:
    """The rows of a list page (not its filters)."""
    text = response.text  # type: ignore[attr-defined]
    return text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


async def test_sqladmins_own_pages_and_errors_speak_russian(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)

    answers = {
        "/admin/staff-assignment/list": (403, "Нет доступа"),  # administrators only
        "/admin/student/list?page=abc": (400, "Неверный адрес"),
        "/admin/student/list?sortBy=surname;drop": (400, "Неверный адрес"),
        "/admin/no-such-page/list": (404, "Не найдено"),
        f"/admin/student/details/{world.student_10a.id}": (404, "Не найдено"),
    }
    for path, (status, text) in answers.items():
        response = await client.get(path)
        assert (response.status_code, text in response.text) == (status, True), path
        for english in ("Forbidden", "Invalid", "Not Found", "Bad Request"):
            assert english not in response.text, (path, english)
        assert "На главную" in response.text, path
    details = (await client.get(f"/admin/student/details/{world.school.students_5a[0].id}")).text
    assert f"№ {world.school.students_5a[0].id}</h3>" in details and "Id:" not in details


async def test_posting_to_the_sign_in_page_or_opening_a_form_address_gets_the_russian_error_page(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    client = admin_client(admin_settings(tmp_path, database_url), engine)
    csrf = await sign_in(client, session_factory, school.admin)

    for method, path in (("POST", "/admin/login"), ("GET", "/admin/exports/download")):
        data = {"csrf_token": csrf} if method == "POST" else None
        response = await client.request(method, path, data=data)
        assert response.status_code == 405, path
        assert "Эту страницу так не открыть" in response.text and "На главную" in response.text, path
        assert "Method Not Allowed" not in response.text, path
        assert response.header("content-type").startswith("text/html"), path
    login = await client.post("/admin/login", data={"csrf_token": csrf})
    assert login.header("allow") == "GET"


async def test_the_requests_register_shows_the_class_printed_on_each_extract(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    peter, anna = world.school.students_5a
    async with session_factory() as session:
        session.add_all(
            [
                ResultsRequest(number="2026-0001", student_id=peter.id, scope="all_years", class_label="4А"),
                ResultsRequest(number="2026-0002", student_id=anna.id, scope="all_years"),  # before 0005
            ]
        )
        await session.commit()
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    page = (await client.get("/admin/results-request/list")).text
    flat = re.sub(r"\s+", " ", page)
    assert "Класс в выписке" in flat
    assert "<td>2026-0001</td> <td>" in flat and "<td>Иванов Пётр, 5А</td> <td>4А</td>" in flat
    assert "<td>Смирнова Анна, 5А</td> <td>—</td>" in flat  # not kept before migration 0005: not guessed
