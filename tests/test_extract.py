"""The results-request extract and the portfolio PDF: their text is the data; verification codes hold."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from bot.reports import destruction_act
from bot.reports import extract as extract_report
from bot.reports.extract import TABLE_FONT_SIZE, build_extract, format_date
from bot.reports.pdf import FONT_FAMILY, REPLACEMENT, Document, safe_text
from bot.reports.portfolio_pdf import build_portfolio_pdf
from bot.services.portfolio import PortfolioEntry, RewardEntry
from bot.services.verification import (
    check_code,
    find_request,
    is_start_payload,
    make_code,
    normalize_code,
    parse_code,
    verification_link,
)
from models import ResultsRequest
from models.db import SessionFactory
from models.enums import RequestScope
from tests.factories import make_school

ARTIFACTS = Path(__file__).parent / "artifacts"
ZONE = ZoneInfo("Europe/Moscow")
ISSUED_AT = datetime(2026, 12, 3, 15, 40, tzinfo=ZONE)
SCHOOL = "МАОУ СОШ № 32"
STUDENT = "Иванов Пётр Сергеевич"
NUMBER = "2026-0007"
TEACHER = "Петрова Елена Викторовна"
SECRET = "test-secret"
LONG_TITLE = ("Всероссийский конкурс 🏆🎉 «<b>Юный исследователь</b>» " * 8)[:300]
HEADER = "Мероприятие"
CATEGORIES = ["olympiad", "contest", "project", "sport", "gto", "volunteering"]


def entry(index: int, title: str | None = None, *, day: date | None = None) -> PortfolioEntry:
    category = CATEGORIES[index % len(CATEGORIES)]
    return PortfolioEntry(
        id=index,
        number=f"2026-{index:04d}",
        category=category,
        level=["school", "municipal", "regional", "interregional", "national", "international"][index % 6],
        result="gto_silver" if category == "gto" else "prize_winner",
        title=title or f"Событие-{index:03d}",
        event_date=day or date(2026, 11, 30) - timedelta(days=3 * index),
        source="our_school" if index % 2 else "other_org",
        evidence_count=1,
    )


REWARDS = [
    RewardEntry(
        1, "gramota", "Грамота", "За победу в региональном этапе олимпиады", date(2026, 10, 1), "15-о"
    ),
    RewardEntry(2, "thanks", "Благодарность", "За активное участие в жизни класса", date(2026, 5, 20), None),
]


def extract(
    entries: list[PortfolioEntry], rewards: list[RewardEntry] = REWARDS, code: str = "ABCD-EFGH"
) -> bytes:
    return build_extract(
        SCHOOL, STUDENT, "5А", NUMBER, ISSUED_AT, entries, rewards, TEACHER, code, f"/verify {code}"
    )


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def squeezed(text: str) -> str:
    """Text without whitespace: wrapped cells break lines anywhere between words."""
    return re.sub(r"\s+", "", text)


def test_extract_carries_the_data() -> None:
    entries = [entry(1, LONG_TITLE), entry(2, "🏅🥇"), entry(3, "Олимпиада по математике")]
    pdf = extract(entries, code="WXYZ-2345-ABCD")
    text = "\n".join(pages_text(pdf))
    flat = squeezed(text)
    for expected in (
        SCHOOL,
        STUDENT,
        NUMBER,
        "03.12.2026",
        "Выписка об индивидуальных образовательных достижениях обучающегося",
        "Классный руководитель:",
        TEACHER,
        "WXYZ-2345-ABCD",
        "/verify",
        "Грамота",
        "За победу в региональном этапе олимпиады",
        "№ 15-о",
        "Благодарность",
        "Подтверждённые достижения: 3",
        "Интеллектуальный или творческий конкурс",
        "муниципальный",
        "призёр",
    ):
        assert squeezed(expected) in flat, expected
    for item in entries:
        printed = safe_text(item.title)
        assert printed.strip() and "🏆" not in printed
        assert squeezed(printed) in flat, item.title
    assert (
        "<b>Юный исследователь</b>" in text.replace("\n", " ") or squeezed("<b>Юныйисследователь</b>") in flat
    )
    assert REPLACEMENT in text  # emoji replaced, never dropped into a blank cell
    assert "Поощрений нет" not in text


def test_extract_without_achievements_or_rewards() -> None:
    text = "\n".join(pages_text(extract([], [])))
    assert "Подтверждённых достижений нет" in text
    assert "Поощрений нет" in text
    assert HEADER not in text
    assert STUDENT in text and NUMBER in text


def test_extract_of_120_achievements_repeats_the_header() -> None:
    entries = [entry(index) for index in range(1, 121)]
    pages = pages_text(extract(entries))
    assert len(pages) >= 3
    flat = squeezed("\n".join(pages))
    for item in entries:
        assert item.title in flat
    pages_with_rows = [page for page in pages if "Событие-" in page]
    assert len(pages_with_rows) >= 3
    for page in pages_with_rows:
        assert page.count(HEADER) == 1
    assert sum(page.count(HEADER) for page in pages) == len(pages_with_rows)
    # The closing part: the signature and the code end the last page, together.
    assert "Классный руководитель:" in pages[-1] and "ABCD-EFGH" in pages[-1]
    assert pages[-1].count("стр.") == 1 and f"из {len(pages)}" in pages[-1]
    # Every row starts with its whole number and date: «100» is not broken into «10» and «0».
    text = "\n".join(pages)
    broken = [e.id for e in entries if not re.search(rf"(?m)^{e.id} {format_date(e.event_date)} ", text)]
    assert broken == []


def test_a_portfolio_pdf_of_120_in_one_category_keeps_every_row_number_whole() -> None:
    year_start = date(2026, 9, 1)  # all olympiads of one academic year, newest first
    entries = [entry(6 * i, day=year_start + timedelta(days=3 * (121 - i))) for i in range(1, 121)]
    text = "\n".join(pages_text(build_portfolio_pdf(SCHOOL, STUDENT, "5А", ISSUED_AT, entries, REWARDS)))
    numbers = range(1, len(entries) + 1)
    broken = [
        n for n, e in zip(numbers, entries, strict=True) if f"\n{n} {format_date(e.event_date)} " not in text
    ]
    assert broken == []


@pytest.mark.parametrize(
    "widths",
    [extract_report.ACHIEVEMENT_WIDTHS, extract_report.REWARD_WIDTHS, destruction_act.TABLE_WIDTHS],
    ids=["achievements", "rewards", "destruction act"],
)
def test_the_number_column_holds_a_three_digit_number_and_its_header_in_english(
    widths: tuple[float, ...],
) -> None:
    pdf = Document("t")
    pdf.add_page()
    first_column = pdf.epw * widths[0] / sum(widths) - 2  # the cell's padding, 1 mm a side
    pdf.set_font(FONT_FAMILY, "", TABLE_FONT_SIZE)
    assert pdf.get_string_width("999") <= first_column
    pdf.set_font(FONT_FAMILY, "B", TABLE_FONT_SIZE)
    assert pdf.get_string_width("No.") <= first_column  # the English «№»


def test_portfolio_pdf_groups_by_year_and_category() -> None:
    entries = [
        entry(1, "Осенняя олимпиада", day=date(2026, 10, 1)),
        entry(7, "Летняя олимпиада", day=date(2026, 8, 31)),
        entry(4, "Соревнование", day=date(2026, 9, 1)),
    ]
    text = "\n".join(pages_text(build_portfolio_pdf(SCHOOL, STUDENT, "5А", ISSUED_AT, entries, REWARDS)))
    flat = squeezed(text)
    assert squeezed("2026/27 учебный год — достижений: 2") in flat
    assert squeezed("2025/26 учебный год — достижений: 1") in flat
    assert squeezed("Интеллектуальный или творческий конкурс: 1") in flat
    assert squeezed("Нормы ГТО: 1") in flat
    assert flat.index(squeezed("2026/27")) < flat.index(squeezed("2025/26"))
    for title in ("Осенняя олимпиада", "Летняя олимпиада", "Соревнование", "Грамота", STUDENT, SCHOOL):
        assert squeezed(title) in flat
    empty = "\n".join(pages_text(build_portfolio_pdf(SCHOOL, STUDENT, "5А", ISSUED_AT, [], [])))
    assert "Подтверждённых достижений нет" in empty and "Поощрений нет" in empty


def request(request_id: int = 42, **changes: object) -> ResultsRequest:
    values: dict[str, object] = {
        "id": request_id,
        "number": NUMBER,
        "student_id": 7,
        "scope": RequestScope.ALL_YEARS,
        "created_at": datetime(2026, 12, 3, 12, 40, 5, tzinfo=UTC),
        "achievements_count": 3,
        "rewards_count": 1,
    }
    values.update(changes)
    return ResultsRequest(**values)


def test_verification_round_trip_and_forgeries() -> None:
    issued = request()
    code = make_code(SECRET, issued)
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){5}", code)
    lookup = {42: issued}.get
    assert check_code(SECRET, code, lookup) is issued
    # What people type or scan: lower case, spaces, the QR prefix.
    assert check_code(SECRET, code.lower().replace("-", " "), lookup) is issued
    assert check_code(SECRET, "verify:" + code, lookup) is issued
    # The QR code's link to the bot, its /start payload, or the link pasted whole.
    link = verification_link("portfolio_bot", code)
    assert link == f"https://t.me/portfolio_bot?start=verify_{normalize_code(code)}"
    assert check_code(SECRET, link, lookup) is issued
    assert check_code(SECRET, link.split("start=")[1], lookup) is issued
    assert is_start_payload(link.split("start=")[1]) and not is_start_payload("Np6yURhytVCUwbmAZcnleV")

    raw = normalize_code(code)
    for position in range(len(raw)):
        changed = raw[:position] + ("A" if raw[position] != "A" else "B") + raw[position + 1 :]
        assert check_code(SECRET, changed, lookup) is None, position
    assert check_code("another-secret", code, lookup) is None
    assert check_code(SECRET, make_code("another-secret", issued), lookup) is None
    for garbage in ("", "hello", "ABCD-EFGH", raw + "A", "!" * 24, "0" * 24, "verify:"):
        assert check_code(SECRET, garbage, lookup) is None
    assert parse_code("@@@") is None
    # The stored request changed after issue (another student, more items): the code no longer holds.
    for changes in ({"student_id": 8}, {"achievements_count": 4}, {"number": "2026-0008"}):
        assert check_code(SECRET, code, {42: request(**changes)}.get) is None
    assert check_code(SECRET, code, {}.get) is None
    # Another request's id with this request's MAC.
    other = request(43)
    forged = make_code(SECRET, other)[:9] + code[9:]
    assert check_code(SECRET, forged, {42: issued, 43: other}.get) is None


def test_make_code_needs_an_id() -> None:
    with pytest.raises(ValueError):
        make_code(SECRET, request(None))


async def test_find_request_in_the_database(session_factory: SessionFactory) -> None:
    school = await make_school(session_factory)
    async with session_factory() as session:
        issued = ResultsRequest(
            number=NUMBER,
            student_id=school.students_5a[0].id,
            scope=RequestScope.CURRENT_YEAR,
            achievements_count=2,
        )
        session.add(issued)
        await session.flush()
        code = make_code(SECRET, issued)
        issued.verification_code = code
        await session.commit()

    async with session_factory() as session:
        found = await find_request(session, SECRET, code.lower())
        assert found is not None and found.number == NUMBER
        assert await find_request(session, "wrong", code) is None
        assert await find_request(session, SECRET, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA") is None
        assert await find_request(session, SECRET, "nonsense") is None


def test_extract_renders(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    entries = [entry(1, LONG_TITLE), *(entry(index) for index in range(2, 9))]
    pdf = extract(entries, code="WXYZ-2345-ABCD-EFGH-IJKL-MNOP")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "extract.pdf").write_bytes(pdf)
    source = tmp_path / "extract.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(source),
            str(ARTIFACTS / "extract"),
        ],
        check=True,
        timeout=60,
    )
    png = ARTIFACTS / "extract.png"
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_english_extract_and_portfolio_have_no_russian_left_but_the_data(tmp_path: Path) -> None:
    from aiogram.utils.i18n import I18n

    from bot.i18n_text import in_language

    i18n = I18n(
        path=Path(__file__).resolve().parent.parent / "locales", default_locale="ru", domain="messages"
    )
    latin = [
        PortfolioEntry(i, f"2026-{i:04d}", "olympiad", "regional", "winner", f"Event {i}", date(2026, 10, i), "our_school", 1)
        for i in range(1, 4)
    ]  # fmt: skip
    rewards = [RewardEntry(1, "gramota", "Certificate", "For the olympiad", date(2026, 10, 5), "15")]
    with in_language("en", i18n):
        documents = {
            "extract": build_extract(
                "School No. 32", "Ivanov Petr", "5A", NUMBER, ISSUED_AT, latin, rewards, "Petrova Elena",
                "WXYZ-2345-ABCD", period_label="all years",
            ),
            "portfolio": build_portfolio_pdf("School No. 32", "Ivanov Petr", "5A", ISSUED_AT, latin, rewards),
        }  # fmt: skip
    for name, pdf in documents.items():
        text = "\n".join(pages_text(pdf))
        assert re.findall(r"\S*[А-Яа-яЁё]+\S*", text) == [], name
    assert "“Portfolio” bot" in "\n".join(pages_text(documents["extract"])).replace("\n", " ")
