"""Exports in the web admin: the form, and files made by the export service with the signed-in person's
scope — a deputy's XLSX holds only their level's children; every export is audited with channel web."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import AuditEvent
from models.db import SessionFactory
from models.enums import AuditChannel
from tests.admin_support import admin_client, admin_settings, make_admin_school, sign_in

AUTUMN = {"first": "2026-09-01", "last": "2026-12-31"}


def _rows(xlsx: bytes) -> list[tuple[object, ...]]:
    return list(load_workbook(io.BytesIO(xlsx)).active.iter_rows(values_only=True))


async def test_a_deputys_xlsx_holds_only_their_level_and_the_export_is_audited(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, world.school.deputy)

    page = await client.get("/admin/exports")
    assert page.status_code == 200
    assert "Банк одарённых детей" in page.text and "Журнал запросов выписок" in page.text
    assert "ООО (5–9)" in page.text and 'name="csrf_token"' in page.text

    response = await client.post(
        "/admin/exports/download",
        data={"csrf_token": csrf, "kind": "achievements", "format": "xlsx", **AUTUMN},
    )
    assert response.status_code == 200
    assert response.header("content-type") == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="achievements-2026-09-01-2026-12-31.xlsx"' in (
        response.header("content-disposition") or ""
    )
    rows = _rows(response.content)
    header = rows[0]
    assert [(row[header.index("Класс")], row[header.index("Мероприятие")]) for row in rows[1:]] == [
        ("5А", "Олимпиада по физике")
    ]
    async with session_factory() as session:
        exported = (await session.exec(select(AuditEvent).where(AuditEvent.action == "export"))).all()
    event = next(row for row in exported if row.student_id is None)  # the summary; one row per child besides
    assert len([row for row in exported if row.student_id is not None]) == 1  # the one 5А child in the file
    assert (event.channel, event.actor_account_id, event.object_id, event.allowed) == (
        AuditChannel.WEB,
        world.school.deputy.id,
        "achievements",
        True,
    )
    assert "levels=ooo" in (event.details or "") and "rows=1" in (event.details or "")


async def test_an_administrator_exports_the_whole_school_as_csv(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, world.school.admin)

    response = await client.post(
        "/admin/exports/download",
        data={"csrf_token": csrf, "kind": "achievements", "format": "csv", **AUTUMN},
    )
    assert response.status_code == 200 and response.header("content-type") == "text/csv; charset=utf-8"
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Номер;Подано;Ученик;Класс;")
    assert [line.split(";")[3] for line in lines[1:]] == ["5А", "10А"]


async def test_a_bad_period_or_kind_is_answered_on_the_page(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    client = admin_client(settings, engine)
    csrf = await sign_in(client, session_factory, world.school.deputy)
    for data in (
        {"kind": "achievements", "first": "2026-12-31", "last": "2026-09-01", "format": "xlsx"},
        {"kind": "achievements", "first": "вчера", "last": "2026-09-01", "format": "xlsx"},
        {"kind": "everything", **AUTUMN, "format": "xlsx"},
        {"kind": "achievements", **AUTUMN, "format": "pdf"},
    ):
        response = await client.post("/admin/exports/download", data={"csrf_token": csrf, **data})
        assert response.status_code == 400, data
        assert "Выберите выгрузку и период" in response.text
    async with session_factory() as session:
        assert (await session.exec(select(AuditEvent).where(AuditEvent.action == "export"))).all() == []
