"""The class invite sheet: a printable PDF of slips (and its CSV twin) that carries every code."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import re
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.__main__ import main
from bot.reports.invite_sheet import QR_SIZE, _clipped_to, _fitting_size, build_invite_csv, build_invite_sheet
from bot.reports.pdf import _FONT_FILES, FONTS_DIR, Document, _parsed_font, safe_text
from bot.services.invites import SheetEntry, deep_link, issue_class_sheet_invites
from bot.services.roster import import_roster
from models import SchoolClass
from models.db import SessionFactory

ARTIFACTS = Path(__file__).parent / "artifacts"
SCHOOL = "МБОУ «Средняя общеобразовательная школа № 17»"
BOT = "school_portfolio_bot"
ISSUED_ON = date(2026, 9, 1)
EXPIRES_ON = date(2026, 9, 30)
MM = 72 / 25.4  # PDF points in a millimetre
# Seven students whose names are hard to print: ё, apostrophes, quotes, hyphens, emoji.
ROSTER = [
    ("Алексеева", "Дарья", "Игоревна"),
    ("Ёлкин", "Фёдор", "Семёнович"),
    ("Д'Артаньян", "Шарль", ""),
    ("Римская-Корсакова", "Анна-Мария", "Константиновна"),
    ("Ким", "Роман «Рома»", ""),
    ("Петров", "Пётр 🎉", "Ильич"),
    ("Смирнова", "Ольга", 'Ивановна "младшая"'),
]


@pytest.fixture
async def session(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


async def class_sheet(session: AsyncSession, guardians: int = 1) -> list[SheetEntry]:
    """Import the seven students into 5А and issue their sheet codes."""
    roster = io.StringIO()
    writer = csv.writer(roster, delimiter=";")
    writer.writerow(["Класс", "Фамилия", "Имя", "Отчество"])
    writer.writerows(["5А", *names] for names in ROSTER)
    report = await import_roster(session, roster.getvalue().encode())
    assert len(report.added) == 7, report.format()
    school_class = (await session.exec(select(SchoolClass))).one()
    assert school_class.id is not None
    return await issue_class_sheet_invites(
        session, school_class.id, timedelta(days=30), guardian_codes_per_student=guardians
    )


def build(entries: list[SheetEntry]) -> bytes:
    return build_invite_sheet(SCHOOL, "5А", entries, BOT, ISSUED_ON, EXPIRES_ON)


def codes_of(entries: list[SheetEntry]) -> list[str]:
    return [code for entry in entries for code in (*entry.guardian_codes, entry.student_code) if code]


async def test_every_name_code_and_the_school_are_on_the_sheet(session: AsyncSession) -> None:
    entries = await class_sheet(session)

    reader = PdfReader(io.BytesIO(build(entries)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    squeezed = re.sub(r"\s+", "", text)  # codes are printed in groups and links wrap

    assert len(reader.pages) == 2  # four slips a page
    assert text.count(SCHOOL) >= 7
    for entry in entries:
        assert safe_text(entry.full_name) in text
    assert len(codes_of(entries)) == 14
    for code in codes_of(entries):
        assert code in squeezed
    assert "действует до 30.09.2026 включительно" in text
    assert reader.metadata is not None
    assert reader.metadata.title == "Приглашения в бот «Портфолио»: 5А класс"
    assert reader.metadata.creator == "Портфолио"


async def test_hard_names_are_printed_and_an_emoji_becomes_a_visible_box(session: AsyncSession) -> None:
    entries = await class_sheet(session)

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(build(entries))).pages)

    for name in ("Ёлкин Фёдор Семёнович", "Д'Артаньян Шарль", "Римская-Корсакова Анна-Мария Константиновна",
                 "Ким Роман «Рома»", 'Смирнова Ольга Ивановна "младшая"', "Петров Пётр □ Ильич"):  # fmt: skip
        assert name in text
    assert "🎉" not in text


async def test_each_qr_code_is_a_link_big_enough_to_scan(session: AsyncSession) -> None:
    entries = await class_sheet(session)

    reader = PdfReader(io.BytesIO(build(entries)))
    links: list[tuple[str, float]] = []
    for page in reader.pages:
        for annotation in page.get("/Annots", []):
            annotation = annotation.get_object()
            x1, y1, x2, y2 = (float(v) for v in annotation["/Rect"])
            links.append((annotation["/A"]["/URI"], min(abs(x2 - x1), abs(y2 - y1))))

    qr_links = {uri for uri, size in links if size >= 25 * MM}
    assert QR_SIZE >= 25
    assert qr_links == {deep_link(BOT, code) for code in codes_of(entries)}


async def test_two_guardian_codes_per_child_fit_three_slips_a_page(session: AsyncSession) -> None:
    entries = await class_sheet(session, guardians=2)

    reader = PdfReader(io.BytesIO(build(entries)))
    squeezed = re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))

    assert len(reader.pages) == 3
    assert len(codes_of(entries)) == 21
    assert all(code in squeezed for code in codes_of(entries))
    assert "код2из2" in squeezed


def test_an_empty_class_gives_a_one_page_notice() -> None:
    text = PdfReader(io.BytesIO(build([]))).pages[0].extract_text()

    assert "В классе 5А нет учащихся." in text


async def test_the_csv_has_the_same_codes_and_opens_in_excel(session: AsyncSession) -> None:
    entries = await class_sheet(session, guardians=2)

    data = build_invite_csv(entries, BOT, EXPIRES_ON)

    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Класс",
        "ФИО ученика",
        "Ссылка для родителя 1",
        "Код для родителя 1",
        "Ссылка для родителя 2",
        "Код для родителя 2",
        "Ссылка для ученика",
        "Код для ученика",
        "Действует до",
    ]
    assert [row[1] for row in rows[1:]] == [entry.full_name for entry in entries]
    assert {row[0] for row in rows[1:]} == {"5А"} and {row[8] for row in rows[1:]} == {"30.09.2026"}
    assert [code for row in rows[1:] for code in (row[3], row[5], row[7])] == codes_of(entries)
    assert all(row[2] == deep_link(BOT, row[3]) and row[6] == deep_link(BOT, row[7]) for row in rows[1:])


def test_a_name_that_looks_like_a_formula_is_defused_in_the_csv() -> None:
    entry = SheetEntry(1, "=HYPERLINK(1)", "5А", ("A" * 43,), None, datetime(2026, 9, 30, tzinfo=UTC))

    row = list(
        csv.reader(io.StringIO(build_invite_csv([entry], BOT, EXPIRES_ON).decode("utf-8-sig")), delimiter=";")
    )[1]

    assert row[1] == "'=HYPERLINK(1)"
    assert row[4:6] == ["", ""]  # no student code


async def test_page_one_renders_to_png(session: AsyncSession) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: no PNG of the sheet")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "invite-sheet.pdf"
    pdf.write_bytes(build(await class_sheet(session)))

    command = ["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf), str(ARTIFACTS / "invite-sheet")]
    await asyncio.to_thread(subprocess.run, command, check=True)

    assert (ARTIFACTS / "invite-sheet.png").stat().st_size > 10_000


def test_the_invites_command_writes_the_class_sheet(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("Класс;Фамилия;Имя;Отчество\n5А;Иванов;Пётр;\n5А;Петрова;Анна;\n", encoding="cp1251")
    assert main(["import-roster", str(roster)]) == 0

    assert main(["invites", "--class", "5a", "--bot-username", "@" + BOT]) == 0
    assert (tmp_path / "invites-5А.pdf").read_bytes().startswith(b"%PDF")
    assert (
        main(
            [
                "invites",
                "--class",
                "5А",
                "--format",
                "csv",
                "--guardians",
                "2",
                "--out",
                "x.csv",
                "--bot-username",
                BOT,
            ]
        )
        == 0
    )
    rows = (tmp_path / "x.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 3 and f"https://t.me/{BOT}?start=" in rows[1]
    assert "записаны в x.csv" in capsys.readouterr().out

    assert main(["invites", "--class", "9Я", "--bot-username", BOT]) == 1
    assert "Класса 9Я нет" in capsys.readouterr().err


def test_safe_text_keeps_what_the_font_has_and_shows_a_box_for_the_rest() -> None:
    assert safe_text("Ёлкин № 5 «А» — ½") == "Ёлкин № 5 «А» — ½"
    assert safe_text("𝐀𝐧𝐧𝐚 \U0001f9ff \U0001f44d\U0001f3fd") == "Anna □ □"
    assert safe_text("a\x00b\u200dc") == "abc"


@pytest.mark.parametrize(("family", "style"), sorted(_FONT_FILES), ids=lambda value: value or "regular")
def test_every_bundled_font_draws_a_box_for_what_it_lacks_without_a_warning(family: str, style: str) -> None:
    pdf = Document("Проверка")
    pdf.add_page()
    pdf.set_font(family, style, 10)
    hard = "𝐀𝐧𝐧𝐚 \U0001f9ff \U0001f44d\U0001f3fd a\x00b\x07c ½"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fpdf2 warns of glyphs missing from the font
        pdf.cell(0, 6, hard, new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 6, hard)
        lines = pdf.wrap(hard, 150)
        width = pdf.get_string_width(hard)

    box = "□" if ord("□") in pdf.current_font.cmap else "?"
    assert lines == [f"Anna {box} {box} abc ½"] and width > 0
    text = PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0].extract_text()
    assert text.count(f"Anna {box} {box} abc ½") == 2


def _sample_document() -> bytes:
    pdf = Document("Проверка")
    pdf.set_creation_date(datetime(2026, 12, 4, tzinfo=UTC))
    pdf.add_page()
    for family, style in sorted(_FONT_FILES):
        pdf.set_font(family, style, 11)
        pdf.multi_cell(
            0, 6, f"{family} {style}: Ёлкин Пётр, «5А», № 2026-0007 — ½ ≤ 3 🧿", new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())


def test_fonts_read_once_per_process_draw_the_same_pages_as_fpdf_reading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = _sample_document()
    assert _sample_document() == cached  # a second document: nothing of the first left in the fonts
    # What fpdf2 changes as it writes a document stays in that document (PDFs are built in threads too).
    template = _parsed_font(FONTS_DIR / _FONT_FILES[("dejavu", "")])[0]
    assert not hasattr(template.desc, "font_file2")
    monkeypatch.setattr(Document, "_add_bundled_font", FPDF.add_font)  # fpdf2 reads every font file itself
    own = _sample_document()
    cached_page, own_page = (PdfReader(io.BytesIO(data)).pages[0] for data in (cached, own))
    assert cached_page.extract_text() == own_page.extract_text()
    assert "dejavumono B: Ёлкин Пётр, «5А», № 2026-0007 — ½ ≤ 3 □" in cached_page.extract_text()
    fonts = [
        {name: font.get_object()["/DescendantFonts"][0].get_object()["/W"] for name, font in fonts.items()}
        for fonts in (cached_page["/Resources"]["/Font"], own_page["/Resources"]["/Font"])
    ]
    assert fonts[0] == fonts[1] and len(fonts[0]) == len(_FONT_FILES)  # the same glyphs, the same widths
    if shutil.which("pdftoppm") is not None:
        cached_png, own_png = (_rendered(data, tmp_path / name) for name, data in [("a", cached), ("b", own)])
        assert cached_png == own_png


def _rendered(data: bytes, stem: Path) -> bytes:
    stem.with_suffix(".pdf").write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-singlefile", stem.with_suffix(".pdf"), stem], check=True
    )
    with Image.open(stem.with_suffix(".png")) as image:
        return image.tobytes()


def test_the_pdf_base_table_wraps_and_repeats_its_header_on_every_page() -> None:
    pdf = Document("Проверка")
    pdf.add_page()
    pdf.heading("Достижения 🧿")
    rows = [[str(n), "Всероссийская олимпиада школьников по математике " * 3] for n in range(1, 60)]
    pdf.simple_table(["№", "Название"], rows, col_widths=(15, 165))

    pages = PdfReader(io.BytesIO(bytes(pdf.output()))).pages

    assert len(pages) > 1
    assert all("№ Название" in page.extract_text() for page in pages)
    assert "Достижения □" in pages[0].extract_text()


def test_a_very_long_name_never_runs_into_the_class_label() -> None:
    pdf = Document("t")
    pdf.add_page()
    name = "Римская-Корсакова-Мусоргская-Бородина " * 3
    size = _fitting_size(pdf, name, 100, 13, smallest=6)
    pdf.set_font(size=size)
    clipped = _clipped_to(pdf, name, 100)
    assert pdf.get_string_width(clipped) <= 100 - 2 * pdf.c_margin
    assert clipped.startswith("Римская-Корсакова") and clipped.endswith("…")
