"""Attacks on the web admin found by review: what each one gets, and what the audit log keeps."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import Achievement, AuditEvent, DigestDelivery, EvidenceFile, Notification, Student
from models.db import SessionFactory
from models.enums import AchievementStatus, AuditChannel
from tests.admin_support import admin_client, admin_settings, make_admin_school, sign_in
from tests.asgi_client import AsgiClient


async def _audit_rows(session_factory: SessionFactory, action: str) -> list[AuditEvent]:
    async with session_factory() as session:
        return list((await session.exec(select(AuditEvent).where(AuditEvent.action == action))).all())


async def test_opening_the_moderation_queue_is_a_view_of_each_listed_child_and_is_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)

    page = await client.get("/admin/moderation")

    assert page.status_code == 200 and "Олимпиада по физике" in page.text
    rows = await _audit_rows(session_factory, "review_queue_viewed")
    assert [(r.actor_account_id, r.student_id, r.object_type, r.object_id, r.channel) for r in rows] == [
        (
            world.school.deputy.id,
            world.school.students_5a[0].id,
            "achievement",
            str(world.pending_5a.id),
            AuditChannel.WEB,
        )
    ]  # the other level's pending achievement is neither shown nor logged as seen


async def test_a_made_up_id_in_the_address_is_not_found_rather_than_a_server_error(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    for path in (
        "/admin/student/details/abc",
        "/admin/student/details/1%20or%201=1",
        "/admin/student/edit/abc",
        "/admin/achievement/details/-",
        "/admin/student/abc/surname/download/",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.header("content-security-policy"), path


async def test_an_id_too_long_for_the_database_is_not_found_rather_than_a_server_error(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, world.school.admin)
    huge = "9" * 25  # no row's id; SQLite can't even bind it (its integers end below 2**63)

    for path in (
        f"/admin/student/details/{huge}",
        f"/admin/student/edit/{huge}",
        f"/admin/evidence/{huge}",
        f"/admin/digest-delivery/{huge}/pdf",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
    for path in (
        f"/admin/moderation/{huge}/approve",
        f"/admin/moderation/{huge}/correct",
        f"/admin/student/{huge}/status",
        f"/admin/invites/class/{huge}",
    ):
        response = await client.post(path, data={"csrf_token": csrf, "status": "left", "title": "x"})
        assert response.status_code == 404, path
    # A class filter with such a number filters nothing out of existence: the list is simply shown.
    listed = await client.get(f"/admin/achievement/list?class={huge}")
    assert listed.status_code == 200 and "Олимпиада по физике" in listed.text


async def test_pages_with_childrens_data_are_not_kept_by_the_browser_after_sign_out(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)

    for path in (
        "/admin/",
        "/admin/student/list",
        f"/admin/student/details/{world.school.students_5a[0].id}",
        "/admin/moderation",
        "/admin/digest-delivery/list",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.header("cache-control") == "no-store", path
    # SQLAdmin's own scripts and styles hold nobody's data: the browser may keep them.
    statics = await client.get("/admin/statics/css/main.css")
    assert statics.status_code == 200 and statics.header("cache-control") != "no-store"


async def test_another_levels_achievement_and_evidence_are_refused_and_the_attempts_are_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    async with session_factory() as session:
        evidence = (
            await session.exec(
                select(EvidenceFile).where(EvidenceFile.achievement_id == world.pending_10a.id)
            )
        ).one()
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, world.school.deputy)

    approve = await client.post(
        f"/admin/moderation/{world.pending_10a.id}/approve", data={"csrf_token": csrf}
    )
    file = await client.get(f"/admin/evidence/{evidence.id}")

    assert approve.status_code == 404 and file.status_code == 404
    async with session_factory() as session:
        assert (await session.get(Achievement, world.pending_10a.id)).status == AchievementStatus.PENDING
        denied = (await session.exec(select(AuditEvent).where(AuditEvent.allowed == False))).all()  # noqa: E712
    assert sorted((r.action, r.actor_account_id, r.student_id, r.object_id, r.channel) for r in denied) == [
        (
            "achievement_review_denied",
            world.school.deputy.id,
            world.student_10a.id,
            str(world.pending_10a.id),
            AuditChannel.WEB,
        ),
        (
            "evidence_view_denied",
            world.school.deputy.id,
            world.student_10a.id,
            str(world.pending_10a.id),
            AuditChannel.WEB,
        ),
    ]


async def test_opening_a_students_edit_form_is_a_view_of_their_data_and_is_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    student = world.school.students_5b[1]
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    form = await client.get(f"/admin/student/edit/{student.id}")

    assert form.status_code == 200 and "Попова" in form.text
    rows = await _audit_rows(session_factory, "student_viewed")
    assert [(r.actor_account_id, r.student_id, r.details) for r in rows] == [
        (world.school.admin.id, student.id, "edit form")
    ]


async def test_a_deputy_changing_ids_in_the_address_gets_not_found_and_the_attempt_is_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)

    for path in (
        f"/admin/student/details/{world.student_10a.id}",
        f"/admin/achievement/details/{world.pending_10a.id}",
        "/admin/student/details/999999",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Сидорова" not in response.text and "шахмат" not in response.text

    async with session_factory() as session:
        denied = (await session.exec(select(AuditEvent).where(AuditEvent.allowed == False))).all()  # noqa: E712
    assert sorted((r.action, r.actor_account_id, r.student_id, r.object_id) for r in denied) == sorted(
        [
            ("student_view_denied", world.school.deputy.id, world.student_10a.id, str(world.student_10a.id)),
            (
                "achievement_view_denied",
                world.school.deputy.id,
                world.student_10a.id,
                str(world.pending_10a.id),
            ),
        ]
    )  # a made-up id is no child's: nothing to keep in anyone's register


async def test_an_e_journal_id_taken_by_another_student_gets_a_plain_answer_not_a_database_error(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    async with session_factory() as session:
        other = await session.get(Student, world.school.students_5b[0].id)
        other.external_id = "EJ-1"
        session.add(other)
        await session.commit()
    student = world.school.students_5a[1]
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, world.school.admin)

    saved = await client.post(
        f"/admin/student/edit/{student.id}",
        data={
            "csrf_token": csrf,
            "surname": "Смирнова",
            "name": "Анна",
            "external_id": "EJ-1",
            "save": "Save",
        },
    )

    assert saved.status_code == 400
    assert "Этот внешний ID уже записан у другого ученика" in saved.text
    assert "SQL" not in saved.text and "IntegrityError" not in saved.text
    async with session_factory() as session:
        assert (await session.get(Student, student.id)).external_id is None


async def test_another_site_cannot_sign_a_person_out_by_sending_their_browser_to_the_logout_address(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.deputy)

    forced = await client.get("/admin/logout", headers={"sec-fetch-site": "cross-site"})
    assert forced.status_code == 302 and forced.location == "http://testserver/admin/"
    assert (await client.get("/admin/")).status_code == 200  # still signed in

    pressed = await client.get("/admin/logout", headers={"sec-fetch-site": "same-origin"})
    assert pressed.status_code == 302 and pressed.location == "http://testserver/admin/login"
    assert (await client.get("/admin/")).status_code == 302


async def test_html_in_a_childs_name_and_title_is_shown_as_text_on_every_page(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    async with session_factory() as session:
        student = await session.get(Student, world.school.students_5a[0].id)
        student.surname = "<img src=x onerror=alert(1)>Иванов"
        student.patronymic = '"><script>alert(2)</script>'
        achievement = await session.get(Achievement, world.pending_5a.id)
        achievement.title = "<b>Олимпиада</b> & </td>"
        session.add_all([student, achievement])
        await session.commit()
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)
    for path in (
        "/admin/",
        "/admin/moderation",
        "/admin/student/list",
        f"/admin/student/details/{student.id}",
        f"/admin/student/edit/{student.id}",
        "/admin/achievement/list",
        f"/admin/achievement/details/{achievement.id}",
        f"/admin/student/list?search={quote('<img')}",
    ):
        page = (await client.get(path)).text
        assert "<img src=x" not in page and "<script>alert" not in page and "<b>Олимпиада" not in page, path
        if path != "/admin/":  # the dashboard names no children
            assert "&lt;img src=x onerror=alert(1)&gt;Иванов" in page, path


async def test_a_decision_from_a_stale_page_changes_nothing_once_someone_else_decided(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    director = admin_client(settings, engine)
    director_csrf = await sign_in(director, session_factory, world.school.admin)
    deputy = admin_client(settings, engine)
    deputy_csrf = await sign_in(deputy, session_factory, world.school.deputy)
    stale = (await deputy.get("/admin/moderation")).text  # the deputy's tab shows the card...
    assert f"/admin/moderation/{world.pending_5a.id}/reject" in stale

    approved = await director.post(
        f"/admin/moderation/{world.pending_5a.id}/approve", data={"csrf_token": director_csrf}
    )  # ...and meanwhile the director approves it
    assert approved.location.endswith("notice=approved")

    for action, form in (
        ("reject", {"reason": "unreadable"}),
        ("approve", {}),
        ("correct", {"title": "Другое название", "level": "international"}),
    ):
        late = await deputy.post(
            f"/admin/moderation/{world.pending_5a.id}/{action}", data={"csrf_token": deputy_csrf, **form}
        )
        assert late.status_code == 303 and late.location.endswith("notice=late"), action
    assert "Уже рассмотрено кем-то другим" in (await deputy.get(late.location)).text
    async with session_factory() as session:
        stored = await session.get(Achievement, world.pending_5a.id)
        notes = (
            await session.exec(
                select(Notification).where(Notification.account_id == world.school.guardian.id)
            )
        ).all()
    assert (stored.status, stored.decided_by_account_id, stored.reject_reason) == (
        AchievementStatus.APPROVED,
        world.school.admin.id,
        None,
    )
    assert (stored.title, stored.level) == ("Олимпиада по физике", "regional")
    assert len([n for n in notes if n.dedup_key == f"decision:{world.pending_5a.id}"]) == 1


async def test_file_routes_serve_nothing_outside_the_media_folder_whatever_the_path_says(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    secret = tmp_path / "secret.pdf"  # beside MEDIA_DIR, not in it
    secret.write_bytes(b"%PDF-1.4 not for the web")
    async with session_factory() as session:
        evidence = (
            await session.exec(select(EvidenceFile).where(EvidenceFile.achievement_id == world.pending_5a.id))
        ).one()
        evidence.path = "../secret.pdf"  # a tampered row
        digest = DigestDelivery(
            period="2026-W48", account_id=world.school.admin.id, scope="school", pdf_path=str(secret)
        )
        session.add_all([evidence, digest])
        await session.commit()
    client = admin_client(settings, engine)
    await sign_in(client, session_factory, world.school.admin)

    for path in (
        f"/admin/evidence/{evidence.id}",
        f"/admin/digest-delivery/{digest.id}/pdf",
        f"/admin/evidence/%2e%2e/{evidence.id}",
        f"/admin/evidence/{evidence.id}/../{evidence.id}",
        "/admin/statics/../../secret.pdf",
        "/admin/statics/%2e%2e/%2e%2e/app.py",
        "/admin/statics/..%2f..%2fapp.py",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert b"not for the web" not in response.content and b"create_app" not in response.content, path


async def test_a_failure_nobody_foresaw_gets_a_russian_page_with_the_security_headers(
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    session_factory: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("admin.app.dashboard", broken)
    app = admin_client(settings, engine).app

    async def as_served(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(RuntimeError):  # the server logs it after the page went out
            await app(scope, receive, send)

    client = AsgiClient(as_served)
    await sign_in(client, session_factory, world.school.admin)
    page = await client.get("/admin/")
    assert page.status_code == 500
    assert "Что-то пошло не так" in page.text and "Internal Server Error" not in page.text
    assert "the database went away" not in page.text
    assert page.header("content-security-policy") and page.header("cache-control") == "no-store"
