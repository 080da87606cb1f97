"""Exports for the administration: what Excel shows, who sees which rows, and the audit trail."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.migrate import upgrade_database
from bot.reports.spreadsheet import Sheet, to_csv, to_xlsx
from bot.services.access import levels_in_scope
from bot.services.access_register import access_register
from bot.services.exports import ExportDenied, ExportKind, Period, export_sheet
from bot.services.principal import load_principal
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models import Account, Achievement, AuditEvent, EvidenceFile, ResultsRequest, Reward, Student
from models.db import SessionFactory, create_engine, create_session_factory
from models.enums import AchievementStatus, AuditChannel, RequestScope, Source
from tests.conftest import Run
from tests.factories import School, make_class, make_school, make_student

MOSCOW = ZoneInfo("Europe/Moscow")
AUTUMN = Period(date(2026, 9, 1), date(2026, 12, 31))
_numbers = itertools.count(1)


def achievement(
    student: Student,
    title: str,
    *,
    level: AchievementLevel = AchievementLevel.REGIONAL,
    result: AchievementResult = AchievementResult.WINNER,
    status: AchievementStatus = AchievementStatus.APPROVED,
    event_date: date = date(2026, 10, 15),
) -> Achievement:
    return Achievement(
        number=f"2026-{next(_numbers):04d}",
        student_id=student.id,
        category=Category.OLYMPIAD,
        level=level,
        result=result,
        title=title,
        event_date=event_date,
        source=Source.OTHER_ORG,
        status=status,
        created_at=datetime(2026, 10, 16, 9, 30, tzinfo=UTC),
    )


async def _school(session_factory: SessionFactory) -> tuple[School, Student]:
    """make_school plus a 10А student (another level than the ООО deputy's) and a spread of results."""
    school = await make_school(session_factory)
    peter, anna = school.students_5a
    async with session_factory() as session:
        class_10a = await make_class(session, 10, "А")
        senior = await make_student(session, class_10a, "Волков", "Денис")
        regional = achievement(peter, "Региональная олимпиада по физике")
        session.add_all(
            [
                regional,
                achievement(peter, '=HYPERLINK("x")', level=AchievementLevel.NATIONAL),
                achievement(anna, "Муниципальный этап", level=AchievementLevel.MUNICIPAL),
                achievement(anna, "Региональный конкурс: участие", result=AchievementResult.PARTICIPANT),
                achievement(anna, "На проверке", status=AchievementStatus.PENDING),
                achievement(anna, "Отклонено", status=AchievementStatus.REJECTED),
                achievement(anna, "Прошлый год", event_date=date(2026, 5, 20)),
                achievement(senior, "Всероссийская олимпиада", level=AchievementLevel.NATIONAL),
            ]
        )
        await session.flush()
        for position in range(2):
            session.add(
                EvidenceFile(
                    achievement_id=regional.id, position=position, path=f"ab/cd/{position}.jpg",
                    sha256=f"{position:064d}", original_sha256=f"{position:064d}", mime_type="image/jpeg", size=10,
                )
            )  # fmt: skip
        session.add_all(
            [
                ResultsRequest(
                    number="2026-0001", requester_account_id=school.guardian.id, student_id=peter.id,
                    scope=RequestScope.CURRENT_YEAR, created_at=datetime(2026, 10, 20, 21, 30, tzinfo=UTC),
                    verification_code="CODE-1", achievements_count=2, rewards_count=1, class_label="4Б",
                ),
                ResultsRequest(
                    number="2026-0002", requester_account_id=None, student_id=senior.id,
                    scope=RequestScope.ALL_YEARS, created_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
                    verification_code="CODE-2", achievements_count=1, rewards_count=0,
                ),
                Reward(
                    student_id=peter.id, kind="certificate", reason="За олимпиаду", granted_on=date(2026, 10, 30),
                    order_number="12-о", achievement_id=regional.id, granted_by_account_id=school.teacher_5a.id,
                ),
                Reward(student_id=senior.id, kind="gratitude", reason="За помощь", granted_on=date(2026, 11, 3)),
                Reward(student_id=anna.id, kind="gratitude", reason="Весной", granted_on=date(2026, 4, 3)),
            ]
        )  # fmt: skip
        await session.commit()
    return school, senior


async def _export(
    session_factory: SessionFactory, account: Account, kind: ExportKind, period: Period = AUTUMN
) -> Sheet:
    """What the web admin does: the principal's own level scope, channel web."""
    async with session_factory() as session:
        principal = await load_principal(session, account)
        return await export_sheet(
            session, kind, period, principal=principal, levels=levels_in_scope(principal),
            channel=AuditChannel.WEB, tz=MOSCOW,
        )  # fmt: skip


def _records(sheet: Sheet) -> list[dict[str, object]]:
    titles = [column.title for column in sheet.columns]
    return [dict(zip(titles, row, strict=True)) for row in sheet.rows]


async def test_the_gifted_bank_holds_only_approved_regional_and_higher_wins_and_prizes(
    session_factory: SessionFactory,
) -> None:
    school, _senior = await _school(session_factory)
    sheet = await _export(session_factory, school.admin, ExportKind.GIFTED)
    records = _records(sheet)
    assert [(r["Ученик"], r["Класс"], r["Уровень"]) for r in records] == [
        ("Иванов Пётр", "5А", "региональный"),
        ("Иванов Пётр", "5А", "всероссийский"),
        ("Волков Денис", "10А", "всероссийский"),
    ]
    first = records[0]
    assert first["Категория"] == "Предметная олимпиада" and first["Результат"] == "победитель"
    assert first["Мероприятие"] == "Региональная олимпиада по физике"
    assert first["Дата"] == date(2026, 10, 15) and first["Где получено"] == "в другой организации"
    assert first["Файлов подтверждения"] == 2 and records[1]["Файлов подтверждения"] == 0


async def test_xlsx_reads_back_with_russian_headers_real_dates_and_a_frozen_filtered_header(
    session_factory: SessionFactory,
) -> None:
    school, _senior = await _school(session_factory)
    sheet = await _export(session_factory, school.admin, ExportKind.ACHIEVEMENTS)
    worksheet = load_workbook(io.BytesIO(to_xlsx(sheet))).active
    rows = list(worksheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("Номер", "Подано", "Ученик", "Класс") and "Статус" in header
    assert all(cell.font.bold for cell in worksheet[1])
    assert worksheet.freeze_panes == "A2"
    assert worksheet.auto_filter.ref == f"A1:N{len(rows)}"
    assert worksheet.column_dimensions["C"].width == 32
    # Seven of the eight achievements: the spring one is outside the period.
    assert len(rows) == 1 + 7
    by_title = {row[header.index("Мероприятие")]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert "Прошлый год" not in by_title
    pending = by_title["На проверке"]
    assert pending["Статус"] == "на проверке" and pending["Решение принято"] is None
    assert by_title["Отклонено"]["Статус"] == "отклонено"
    assert pending["Дата"] == datetime(2026, 10, 15)  # openpyxl reads dates back as datetimes
    assert pending["Подано"] == datetime(2026, 10, 16, 12, 30)  # 09:30 UTC is 12:30 in Moscow
    date_column = header.index("Дата") + 1
    assert worksheet.cell(row=2, column=date_column).number_format == "DD.MM.YYYY"
    assert worksheet.cell(row=2, column=date_column).is_date
    # A title that looks like a formula stays text.
    formula_cell = next(c for c in worksheet["H"] if c.value == '=HYPERLINK("x")')
    assert formula_cell.data_type == "s"


async def test_csv_is_utf8_with_bom_semicolons_and_russian_dates(session_factory: SessionFactory) -> None:
    school, _senior = await _school(session_factory)
    data = to_csv(await _export(session_factory, school.admin, ExportKind.REQUESTS))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Номер", "Дата и время", "Заявитель", "Ученик", "Класс", "Класс в выписке", "Период выписки",
        "Достижений", "Поощрений", "Код проверки",
    ]  # fmt: skip
    assert rows[1] == [
        "2026-0001", "21.10.2026 00:30", "Ольга Иванова", "Иванов Пётр", "5А", "4Б", "2026/27 учебный год",
        "2", "1", "CODE-1",
    ]  # fmt: skip
    # Registered before the class on the extract was kept: left empty, not guessed.
    assert rows[2][:7] == ["2026-0002", "02.11.2026 11:00", "—", "Волков Денис", "10А", "", "все годы"]
    assert len(rows) == 3


async def test_a_deputys_export_holds_only_their_level(session_factory: SessionFactory) -> None:
    school, _senior = await _school(session_factory)
    for kind in ExportKind:
        sheet = await _export(session_factory, school.deputy, kind)
        classes = {record["Класс"] for record in _records(sheet)}
        assert classes == {"5А"}, kind  # 10А is another deputy's level; 5Б has nothing in the period
        everything = await _export(session_factory, school.admin, kind)
        assert "10А" in {record["Класс"] for record in _records(everything)}, kind


async def test_rewards_export_names_the_achievement_and_who_granted(session_factory: SessionFactory) -> None:
    school, _senior = await _school(session_factory)
    records = _records(await _export(session_factory, school.admin, ExportKind.REWARDS))
    assert [(r["Дата"], r["Ученик"]) for r in records] == [
        (date(2026, 10, 30), "Иванов Пётр"),
        (date(2026, 11, 3), "Волков Денис"),
    ]
    assert records[0]["Номер приказа"] == "12-о" and records[0]["Кто поощрил"] == "Елена Петровна"
    assert str(records[0]["Достижение"]).startswith("2026-") and records[1]["Достижение"] is None


async def test_exports_are_audited_and_a_class_teacher_is_refused(session_factory: SessionFactory) -> None:
    school, _senior = await _school(session_factory)
    await _export(session_factory, school.deputy, ExportKind.GIFTED)
    with pytest.raises(ExportDenied):
        await _export(session_factory, school.teacher_5a, ExportKind.GIFTED)
    async with session_factory() as session:
        principal = await load_principal(session, school.deputy)
        with pytest.raises(ExportDenied):  # a deputy asking for the whole school
            await export_sheet(
                session, ExportKind.REWARDS, AUTUMN, principal=principal, levels=None,
                channel=AuditChannel.WEB, tz=MOSCOW,
            )  # fmt: skip
        all_events = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
    events = [e for e in all_events if e.student_id is None]
    assert [(e.actor_account_id, e.allowed, e.object_id) for e in events] == [
        (school.deputy.id, True, "gifted"),
        (school.teacher_5a.id, False, "gifted"),
        (school.deputy.id, False, "rewards"),
    ]
    assert all(e.action == "export" and e.channel == AuditChannel.WEB for e in all_events)
    assert events[0].details == "kind=gifted; from=2026-09-01; to=2026-12-31; levels=ooo; rows=2"
    # The child in the file (Пётр's two wins) has the export in their own access register; nobody else.
    peter = school.students_5a[0]
    per_child = [e for e in all_events if e.student_id is not None]
    assert [(e.student_id, e.actor_account_id, e.allowed, e.object_id) for e in per_child] == [
        (peter.id, school.deputy.id, True, "gifted")
    ]
    async with session_factory() as session:
        _student, register = await access_register(session, peter.id)  # type: ignore[arg-type]
    assert [(line.action, line.channel) for line in register] == [("export", "web")]


def test_the_command_writes_xlsx_or_csv_and_audits_as_cli(tmp_path: Path, cli: Callable[..., Run]) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"

    async def prepare() -> None:
        await asyncio.to_thread(upgrade_database, database_url)
        engine = create_engine(database_url)
        await _school(create_session_factory(engine))
        await engine.dispose()

    asyncio.run(prepare())
    env = {"DATABASE_URL": database_url}
    args = ("--from", "2026-09-01", "--to", "2026-12-31")
    result = cli("export", "gifted", *args, "--out", str(tmp_path / "bank.xlsx"), env=env)
    assert result.returncode == 0, result.stderr
    assert "строк 3" in result.stdout
    rows = list(load_workbook(tmp_path / "bank.xlsx").active.iter_rows(values_only=True))
    assert rows[0][0] == "Ученик" and [row[0] for row in rows[1:]] == ["Иванов Пётр"] * 2 + ["Волков Денис"]

    out = tmp_path / "rewards.csv"
    result = cli("export", "rewards", *args, "--out", str(out), "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    lines = out.read_text("utf-8-sig").splitlines()
    assert lines[1].startswith("30.10.2026;Иванов Пётр;5А;Грамота;") and len(lines) == 3

    result = cli(
        "export", "rewards", "--from", "2026-12-31", "--to", "2026-09-01", "--out", str(out), env=env
    )
    assert result.returncode == 2 and "--from" in result.stderr

    async def events() -> list[AuditEvent]:
        engine = create_engine(database_url)
        async with create_session_factory(engine)() as session:
            found = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
        await engine.dispose()
        return list(found)

    audited = [e for e in asyncio.run(events()) if e.student_id is None]
    assert [(e.channel, e.object_id, e.actor_account_id) for e in audited] == [
        (AuditChannel.CLI, "gifted", None),
        (AuditChannel.CLI, "rewards", None),
    ]
