"""Roster import: the class lists from the e-journal become classes and students, re-importably."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date, datetime

import pytest
from openpyxl import Workbook
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.__main__ import main
from bot.services.roster import (
    ImportReport,
    RosterFormatError,
    import_roster,
    normalize_class_label,
    parse_roster,
)
from models import AuditEvent, SchoolClass, Student
from models.db import SessionFactory
from models.enums import StudentStatus

HEADER = ["Класс", "Фамилия", "Имя", "Отчество", "Дата рождения", "Внешний ID"]


def csv_bytes(rows: list[list[str]], *, delimiter: str = ";", encoding: str = "utf-8-sig") -> bytes:
    lines = [delimiter.join(row) for row in [HEADER, *rows]]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.fixture
async def session(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


async def students(session: AsyncSession) -> list[tuple[str, str, str, str, date | None, str | None]]:
    """Every student as (class, surname, name, patronymic, birth date, external id), sorted."""
    rows = await session.exec(
        select(Student, SchoolClass).join(SchoolClass, SchoolClass.id == Student.class_id)
    )
    return sorted(
        (c.label, s.surname, s.name, s.patronymic, s.birth_date, s.external_id) for s, c in rows.all()
    )


async def test_utf8_csv_with_bom_and_semicolons_creates_classes_and_students(session: AsyncSession) -> None:
    data = csv_bytes(
        [
            ["5А", "Иванов", "Пётр", "Сергеевич", "01.02.2014", "100"],
            ["5А", "Петрова", "Анна", "", "2014-03-05", ""],
            ["6Б", "Сидоров", "Иван", "Ильич", "", "102"],
        ]
    )
    report = await import_roster(session, data, filename="roster.csv")

    assert [line.full_name for line in report.added] == [
        "Иванов Пётр Сергеевич",
        "Петрова Анна",
        "Сидоров Иван Ильич",
    ]
    assert report.created_classes == ["5А", "6Б"]
    assert not report.rejected and not report.updated
    assert await students(session) == [
        ("5А", "Иванов", "Пётр", "Сергеевич", date(2014, 2, 1), "100"),
        ("5А", "Петрова", "Анна", "", date(2014, 3, 5), None),
        ("6Б", "Сидоров", "Иван", "Ильич", None, "102"),
    ]


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [(",", "cp1251"), (";", "cp1251"), (",", "utf-8"), (";", "utf-8"), (",", "utf-8-sig")],
)
async def test_cp1251_and_utf8_with_either_delimiter_read_the_same(
    session: AsyncSession, delimiter: str, encoding: str
) -> None:
    data = csv_bytes([["5А", "Ёлкин", "Фёдор", "Семёнович", "", "7"]], delimiter=delimiter, encoding=encoding)

    report = await import_roster(session, data)

    assert [line.full_name for line in report.added] == ["Ёлкин Фёдор Семёнович"]
    assert await students(session) == [("5А", "Ёлкин", "Фёдор", "Семёнович", None, "7")]


async def test_xlsx_with_a_title_line_date_cells_and_numeric_ids(session: AsyncSession) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Список обучающихся на 01.09.2026"])
    sheet.append(["ID", "class", "Surname", "Name", "Patronymic", "Birth date"])
    sheet.append([12345, "7 в", "Смирнова", "Мария", "Олеговна", datetime(2012, 11, 30)])
    sheet.append([12346, "7В", "Кузнецов", "Артём", "", "15.06.2012"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    report = await import_roster(session, buffer.getvalue(), filename="roster.xlsx")

    assert len(report.added) == 2 and not report.rejected
    assert [line.row_number for line in report.added] == [3, 4]
    assert await students(session) == [
        ("7В", "Кузнецов", "Артём", "", date(2012, 6, 15), "12346"),
        ("7В", "Смирнова", "Мария", "Олеговна", date(2012, 11, 30), "12345"),
    ]


async def test_importing_the_same_file_again_changes_nothing(session: AsyncSession) -> None:
    data = csv_bytes(
        [
            ["5А", "Иванов", "Пётр", "Сергеевич", "01.02.2014", "100"],
            ["5А", "Петрова", "Анна", "", "", ""],
        ]
    )
    await import_roster(session, data)
    before = await students(session)

    again = await import_roster(session, data)

    assert not again.added and not again.updated and not again.rejected
    assert [line.full_name for line in again.unchanged] == ["Иванов Пётр Сергеевич", "Петрова Анна"]
    assert again.created_classes == []
    assert await students(session) == before


async def test_a_student_with_an_external_id_who_moved_class_is_moved(session: AsyncSession) -> None:
    await import_roster(session, csv_bytes([["5А", "Иванов", "Пётр", "Сергеевич", "", "100"]]))

    report = await import_roster(session, csv_bytes([["6А", "Иванов", "Пётр", "Сергеевич", "", "100"]]))

    assert [line.changes for line in report.updated] == [("класс: 5А → 6А",)]
    assert report.created_classes == ["6А"]
    assert await students(session) == [("6А", "Иванов", "Пётр", "Сергеевич", None, "100")]


async def test_a_corrected_name_or_birth_date_is_an_update(session: AsyncSession) -> None:
    await import_roster(session, csv_bytes([["5А", "Иванов", "Петр", "Сергеевич", "01.02.2014", "100"]]))

    report = await import_roster(
        session, csv_bytes([["5А", "Иванов", "Пётр", "Сергеевич", "02.01.2014", "100"]])
    )

    assert not report.added
    assert [line.changes for line in report.updated] == [
        ("имя: Петр → Пётр", "дата рождения: 01.02.2014 → 02.01.2014")
    ]
    assert await students(session) == [("5А", "Иванов", "Пётр", "Сергеевич", date(2014, 1, 2), "100")]


async def test_ё_spelling_fixed_without_external_id_updates_the_same_student(session: AsyncSession) -> None:
    await import_roster(session, csv_bytes([["5А", "Семенов", "Петр", "", "", ""]]))

    report = await import_roster(session, csv_bytes([["5А", "Семёнов", "Пётр", "", "", ""]]))

    assert not report.added
    assert report.updated[0].changes == ("фамилия: Семенов → Семёнов", "имя: Петр → Пётр")


async def test_an_external_id_is_adopted_by_the_student_imported_without_one(session: AsyncSession) -> None:
    await import_roster(session, csv_bytes([["5А", "Иванов", "Пётр", "", "", ""]]))

    report = await import_roster(session, csv_bytes([["5А", "Иванов", "Пётр", "", "", "555"]]))

    assert report.updated[0].changes == ("внешний id: — → 555",)
    assert await students(session) == [("5А", "Иванов", "Пётр", "", None, "555")]


async def test_a_student_who_left_and_is_listed_again_becomes_active(session: AsyncSession) -> None:
    await import_roster(session, csv_bytes([["5А", "Иванов", "Пётр", "", "", "1"]]))
    student = (await session.exec(select(Student))).one()
    student.status = StudentStatus.LEFT
    session.add(student)
    await session.commit()

    report = await import_roster(session, csv_bytes([["5А", "Иванов", "Пётр", "", "", "1"]]))

    assert report.updated[0].changes == ("статус: выбыл → обучается",)
    await session.refresh(student)
    assert student.status == StudentStatus.ACTIVE


async def test_bad_rows_are_rejected_with_a_reason_each_and_the_rest_imported(session: AsyncSession) -> None:
    data = csv_bytes(
        [
            ["5А", "Иванов", "Пётр", "", "", "1"],  # row 2: fine
            ["5А", "", "Олег", "", "", ""],  # 3
            ["5А", "Орлов", "", "", "", ""],  # 4
            ["12Б", "Сидоров", "Иван", "", "", ""],  # 5
            ["А5", "Сидоров", "Иван", "", "", ""],  # 6
            ["5А", "Кузнецов", "Олег", "", "31.02.2014", ""],  # 7
            ["5А", "Кузнецов", "Олег", "", "02/03/2014", ""],  # 8
            ["5а", "Иванов", "Пётр", "", "", "1"],  # 9: repeats row 2
            ["6А", "Петров", "Иван", "", "", "1"],  # 10: the same external id as row 2
            ["", "", "", "", "", ""],  # 11: blank, skipped silently
            ["5А", "12345", "Олег", "", "", ""],  # 12
        ]
    )

    report = await import_roster(session, data)

    assert [line.full_name for line in report.added] == ["Иванов Пётр"]
    assert [(r.row_number, r.reason) for r in report.rejected] == [
        (3, "не указана фамилия"),
        (4, "не указано имя"),
        (5, "непонятный класс «12Б»: нужен номер 1–11 и буква, например 5А"),
        (6, "непонятный класс «А5»: нужен номер 1–11 и буква, например 5А"),
        (7, "непонятная дата рождения «31.02.2014»: нужна ДД.ММ.ГГГГ"),
        (8, "непонятная дата рождения «02/03/2014»: нужна ДД.ММ.ГГГГ"),
        (9, "повторяет строку 2"),
        (10, "повторяет строку 2"),
        (12, "в имени, фамилии или отчестве нет букв"),
    ]
    assert len(await students(session)) == 1


async def test_namesakes_without_external_ids_are_rejected_as_ambiguous(session: AsyncSession) -> None:
    await import_roster(
        session,
        csv_bytes([["5А", "Иванов", "Иван", "", "", "1"], ["5А", "Иванов", "Иван", "", "", "2"]]),
    )

    report = await import_roster(session, csv_bytes([["5А", "Иванов", "Иван", "", "", ""]]))

    assert [(r.row_number, r.reason) for r in report.rejected] == [
        (2, "в классе несколько учащихся с таким ФИО: укажите внешний id")
    ]
    assert len(await students(session)) == 2


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("5А", (5, "А")),
        ("5 а", (5, "А")),
        ("5A", (5, "А")),  # Latin A
        ("5a", (5, "А")),
        ("11B", (11, "В")),  # Latin B looks like В
        ("7-c", (7, "С")),
        ("10 «Т»", (10, "Т")),
        ("1 х", (1, "Х")),
    ],
)
def test_class_labels_are_normalised_to_upper_case_cyrillic(label: str, expected: tuple[int, str]) -> None:
    assert normalize_class_label(label) == expected


@pytest.mark.parametrize("label", ["", "5", "А", "0А", "12А", "5Z", "5АБ", "пятый"])
def test_impossible_class_labels_are_refused(label: str) -> None:
    with pytest.raises(ValueError):
        normalize_class_label(label)


async def test_latin_look_alike_letters_land_in_the_cyrillic_class(session: AsyncSession) -> None:
    data = csv_bytes([["5A", "Иванов", "Пётр", "", "", ""], ["5 а", "Петров", "Иван", "", "", ""]])

    report = await import_roster(session, data)

    assert report.created_classes == ["5А"]
    assert (await session.exec(select(SchoolClass.letter))).all() == ["А"]  # Cyrillic


async def test_names_with_apostrophes_ё_and_hyphens_are_kept_and_tidied(session: AsyncSession) -> None:
    data = csv_bytes(
        [
            ["8Б", "  Д'Артаньян ", "Шарль", "", "", ""],
            ["8Б", "Римская - Корсакова", "Анна-Мария", "Константиновна", "", ""],
            ["8Б", "Ёлкина", "Алёна  \t Мария", "Фёдоровна", "", ""],
            ["8Б", "О’Нил", "Шон", "", "", ""],
        ]
    )

    report = await import_roster(session, data)

    assert not report.rejected
    assert {s[1:4] for s in await students(session)} == {
        ("Д'Артаньян", "Шарль", ""),
        ("Римская-Корсакова", "Анна-Мария", "Константиновна"),
        ("Ёлкина", "Алёна Мария", "Фёдоровна"),
        ("О’Нил", "Шон", ""),
    }


async def test_a_dry_run_reports_and_changes_nothing(session: AsyncSession) -> None:
    await import_roster(session, csv_bytes([["5А", "Иванов", "Пётр", "", "", "1"]]))
    data = csv_bytes([["6А", "Иванов", "Пётр", "", "", "1"], ["6А", "Петров", "Иван", "", "", ""]])

    preview = await import_roster(session, data, dry_run=True)

    assert preview.dry_run
    assert [line.changes for line in preview.updated] == [("класс: 5А → 6А",)]
    assert [(line.full_name, line.student_id) for line in preview.added] == [("Петров Иван", None)]
    assert preview.created_classes == ["6А"]
    assert not session.new and not session.dirty
    assert await students(session) == [("5А", "Иванов", "Пётр", "", None, "1")]
    assert (
        (await session.exec(select(AuditEvent))).all()[-1].details.startswith("added=1 ")
    )  # the first import


async def test_each_import_writes_counts_and_a_row_per_child_without_their_data(
    session: AsyncSession,
) -> None:
    data = csv_bytes([["5А", "Иванов", "Пётр", "", "", "1"], ["5А", "", "Олег", "", "", ""]])

    report = await import_roster(session, data)
    await import_roster(session, csv_bytes([["6А", "Иванов", "Пётр", "", "", "1"]]))

    student_id = report.added[0].student_id
    events = (await session.exec(select(AuditEvent))).all()
    assert [(e.action, e.channel, e.student_id, e.object_id) for e in events] == [
        ("roster_student_added", "cli", student_id, str(student_id)),
        ("roster_imported", "cli", None, None),
        ("roster_student_updated", "cli", student_id, str(student_id)),
        ("roster_imported", "cli", None, None),
    ]
    assert events[1].details == "added=1 updated=0 unchanged=0 rejected=1 classes_created=1"
    assert events[3].details == "added=0 updated=1 unchanged=0 rejected=0 classes_created=1"
    assert all(e.details is None for e in events if e.student_id)  # no names in the log


def test_a_file_without_the_required_columns_is_refused() -> None:
    with pytest.raises(RosterFormatError, match="«Фамилия»"):
        parse_roster("ФИО;Класс\nИванов Пётр;5А\n".encode())


def test_an_old_xls_file_is_refused_with_advice() -> None:
    with pytest.raises(RosterFormatError, match=r"\.xlsx"):
        parse_roster(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "roster.xls")


@pytest.mark.parametrize(
    "data", [b"\xff\xfe\x00", b"\xfe\xff\xd8\x00\x00\x41"], ids=["cut short", "lone surrogate"]
)
def test_a_broken_utf16_file_is_refused_as_unreadable(data: bytes) -> None:
    with pytest.raises(RosterFormatError, match="неизвестная кодировка"):
        parse_roster(data, "roster.txt")


def test_the_report_reads_well_in_russian() -> None:
    report = ImportReport(dry_run=True)
    report.rejected = parse_roster(csv_bytes([["5А", "", "Олег", "", "", ""]])).errors

    assert report.format() == (
        "Проверка списка учащихся: ничего не изменено.\n"
        "Добавлено: 0, обновлено: 0, без изменений: 0, отклонено: 1.\n"
        "\n"
        "Отклонены:\n"
        "  строка 2: не указана фамилия"
    )


def test_the_import_roster_command_prints_the_report(
    database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(csv_bytes([["5А", "Иванов", "Пётр", "", "", ""]], encoding="cp1251"))

    assert main(["import-roster", str(roster), "--dry-run"]) == 0
    assert "ничего не изменено" in capsys.readouterr().out
    assert main(["import-roster", str(roster)]) == 0
    assert "строка 2: 5А Иванов Пётр" in capsys.readouterr().out
    assert main(["import-roster", str(roster)]) == 0
    assert "без изменений: 1" in capsys.readouterr().out
