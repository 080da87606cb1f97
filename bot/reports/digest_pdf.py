"""The weekly digest as a PDF: the summary, the per-class table with a bar chart of submissions, the
oldest pending, category × level counts, notable results, rewards, results requests, unreachable people."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fpdf.enums import Align

from bot.i18n_text import _
from bot.reports.extract import (
    GREY,
    RULE_GREY,
    TABLE_FONT_SIZE,
    ReportDocument,
    fields_block,
    format_date,
    note,
    school_header,
    section_heading,
    title_block,
)
from bot.reports.pdf import FONT_FAMILY, Document
from bot.services.taxonomy import AchievementLevel

if TYPE_CHECKING:
    from bot.services.digest_content import ClassRow, Digest

# Column widths in mm (180 between the margins), sized for 7.5 pt DejaVu.
CLASS_WIDTHS = (16, 20, 30, 20, 22, 23, 20, 29)
PENDING_WIDTHS = (16, 24, 70, 40, 30)
CATEGORY_WIDTH = 68
LEVEL_WIDTH = 16  # six levels, then the total
NOTABLE_WIDTHS = (20, 44, 14, 54, 26, 22)
REWARD_WIDTHS = (20, 44, 14, 42, 60)
REQUEST_WIDTHS = (24, 30, 90, 36)
UNREACHABLE_WIDTHS = (60, 34, 20, 66)
# The bar chart: class label, bar area, count.
BAR_LABEL_WIDTH = 16
BAR_HEIGHT = 4.5
BAR_GAP = 1.5
BAR_COLOUR = (66, 114, 170)
AXIS_GREY = (190, 190, 190)


def build_digest_pdf(school_name: str, digest: Digest) -> bytes:
    """An A4 PDF of the digest, in the current language."""
    period = digest.period
    school_zone = digest.generated_at.tzinfo  # stored times are UTC; dates are shown as the school sees them
    title = _("Еженедельная сводка")
    scope_title = digest.scope.title()
    pdf = ReportDocument(title, _("Сводка {period} · {scope}").format(period=period.key, scope=scope_title))
    pdf.set_author(school_name)
    pdf.set_subject(f"{title} {period.key}")
    pdf.add_page()
    school_header(pdf, school_name)
    title_block(pdf, title, _("Неделя {period}: {dates}").format(period=period.key, dates=period.dates_label))
    oldest = digest.oldest
    fields_block(
        pdf,
        [
            (_("Охват:"), scope_title),
            (_("Сформирована:"), digest.generated_at.strftime("%d.%m.%Y %H:%M")),
            (_("Подано за неделю:"), str(digest.new)),
            (_("Одобрено:"), str(digest.approved)),
            (_("Отклонено:"), str(digest.rejected)),
            (_("Ждут проверки:"), str(digest.pending)),
            (
                _("Самое давнее:"),
                _("№ {number}, {class_label}, дней: {days}").format(
                    number=oldest.number, class_label=oldest.class_label, days=oldest.age_days
                )
                if oldest
                else "—",
            ),
            (
                _("Родители подключены:"),
                _("{linked} из {students}").format(linked=digest.with_guardian, students=digest.students),
            ),
        ],
    )

    section_heading(pdf, _("По классам"))
    _classes_table(pdf, digest.classes)
    section_heading(pdf, _("Подано за неделю по классам"))
    _bar_chart(pdf, [(row.label, row.new) for row in digest.classes])

    pending = [row.oldest for row in digest.classes if row.oldest is not None]
    section_heading(pdf, _("Дольше всех ждут проверки"))
    if pending:
        _table(
            pdf,
            [_("Класс"), _("№"), _("Ученик"), _("Подано"), _("Ждёт, дней")],
            [
                [
                    item.class_label,
                    item.number,
                    item.student_name,
                    format_date(item.submitted_at.astimezone(school_zone).date()),
                    str(item.age_days),
                ]
                for item in pending
            ],
            PENDING_WIDTHS,
        )
    else:
        note(pdf, _("Все достижения проверены"))

    section_heading(pdf, _("Подтверждено за неделю по категориям и уровням"))
    rows = digest.category_level_rows()
    if rows:
        _category_level_table(pdf, rows)
    else:
        note(pdf, _("За неделю ничего не подтверждено"))

    section_heading(pdf, _("Значимые результаты: {count}").format(count=len(digest.notable)))
    if digest.notable:
        _table(
            pdf,
            [_("№"), _("Ученик"), _("Класс"), _("Мероприятие"), _("Уровень"), _("Результат")],
            [
                [
                    item.number,
                    item.student_name,
                    item.class_label,
                    item.title,
                    item.level_label,
                    item.result_label,
                ]
                for item in digest.notable
            ],
            NOTABLE_WIDTHS,
        )
    else:
        note(pdf, _("Побед и призовых мест регионального и более высокого уровня за неделю нет"))

    section_heading(pdf, _("Поощрения: {count}").format(count=len(digest.rewards)))
    if digest.rewards:
        _table(
            pdf,
            [_("Дата"), _("Ученик"), _("Класс"), _("Вид поощрения"), _("Основание")],
            [
                [
                    format_date(item.granted_on),
                    item.student_name,
                    item.class_label,
                    item.kind_label,
                    item.reason,
                ]
                for item in digest.rewards
            ],
            REWARD_WIDTHS,
        )
    else:
        note(pdf, _("Поощрений за неделю нет"))

    section_heading(pdf, _("Запросы результатов: {count}").format(count=len(digest.requests)))
    if digest.requests:
        tz = school_zone
        _table(
            pdf,
            [_("№"), _("Дата"), _("Ученик"), _("Класс")],
            [
                [
                    item.number,
                    format_date(item.registered_at.astimezone(tz).date()),
                    item.student_name,
                    item.class_label,
                ]
                for item in digest.requests
            ],
            REQUEST_WIDTHS,
        )
    else:
        note(pdf, _("Запросов результатов за неделю нет"))

    section_heading(pdf, _("Бот не может написать: {count}").format(count=len(digest.unreachable)))
    if digest.unreachable:
        _table(
            pdf,
            [_("Кто"), _("Роль"), _("Класс"), _("Чей родитель")],
            [
                [item.name, item.role.label(), item.class_label or "—", item.student_name or "—"]
                for item in digest.unreachable
            ],
            UNREACHABLE_WIDTHS,
        )
        _caption(
            pdf, _("Они заблокировали бота или ни разу его не запускали: попросите их открыть бота снова.")
        )
    else:
        note(pdf, _("Сообщения бота доходят до всех"))
    return bytes(pdf.output())


def _table(
    pdf: Document, headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
) -> None:
    pdf.set_draw_color(*RULE_GREY)  # the same thin grey grid whatever was drawn before
    pdf.set_line_width(0.3)
    pdf.simple_table(headers, rows, widths, font_size=TABLE_FONT_SIZE)
    pdf.ln(3)


def _caption(pdf: Document, text: str) -> None:
    pdf.set_font(FONT_FAMILY, "", 8.5)
    pdf.set_text_color(*GREY)
    pdf.paragraph(4.2, text)
    pdf.set_text_color(0)
    pdf.set_font(FONT_FAMILY, "", 10)
    pdf.ln(2)


def _classes_table(pdf: Document, classes: Sequence[ClassRow]) -> None:
    headers = [
        _("Класс"),
        _("Учеников"),
        _("Родители подключены"),
        _("Подано"),
        _("Одобрено"),
        _("Отклонено"),
        _("Ждут проверки"),
        _("Самое давнее, дней"),
    ]
    rows = [
        [
            row.label,
            str(row.students),
            f"{row.with_guardian} ({row.coverage_percent}%)",
            str(row.new),
            str(row.approved),
            str(row.rejected),
            str(row.pending),
            str(row.oldest.age_days) if row.oldest else "—",
        ]
        for row in classes
    ]
    _table(pdf, headers, rows, CLASS_WIDTHS)


def _level_headers() -> list[str]:
    """Levels, lowest first, shortened so that six columns and a total fit beside the category."""
    return [
        _("школьн."),
        _("муниц."),
        _("регион."),
        _("межрег."),
        _("всеросс."),
        _("междун."),
    ]


def _category_level_table(pdf: Document, rows: Sequence[tuple[str, list[int]]]) -> None:
    """Categories down, levels across."""
    headers = _level_headers()
    assert len(headers) == len(AchievementLevel)
    widths = (
        CATEGORY_WIDTH,
        *(LEVEL_WIDTH for _level in headers),
        pdf.epw - CATEGORY_WIDTH - LEVEL_WIDTH * len(headers),
    )
    _table(
        pdf,
        [_("Категория"), *headers, _("Всего")],
        [[name, *(str(n) if n else "·" for n in counts), str(sum(counts))] for name, counts in rows],
        widths,
    )


def _bar_chart(pdf: Document, values: Sequence[tuple[str, int]]) -> None:
    """Horizontal bars, one per class, scaled to the largest value, with the count after each bar."""
    if not values:
        return
    count_width = 12
    area = pdf.epw - BAR_LABEL_WIDTH - count_width
    largest = max(max(value for _label, value in values), 1)
    pdf.set_font(FONT_FAMILY, "", TABLE_FONT_SIZE)
    pdf.set_line_width(0.2)
    for name, value in values:
        if pdf.get_y() + BAR_HEIGHT + BAR_GAP > pdf.h - pdf.b_margin:
            pdf.add_page()
        y = pdf.get_y()
        x = pdf.l_margin + BAR_LABEL_WIDTH
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(BAR_LABEL_WIDTH - 2, BAR_HEIGHT, name, align=Align.R)
        pdf.set_draw_color(*AXIS_GREY)
        pdf.line(x, y - BAR_GAP / 2, x, y + BAR_HEIGHT + BAR_GAP / 2)
        width = area * value / largest
        if width > 0:
            pdf.set_fill_color(*BAR_COLOUR)
            pdf.rect(x, y, width, BAR_HEIGHT, style="F")
        pdf.set_xy(x + width + 1.5, y)
        pdf.cell(count_width, BAR_HEIGHT, str(value), align=Align.L)
        pdf.set_y(y + BAR_HEIGHT + BAR_GAP)
    pdf.set_fill_color(255)  # tables drawn later take the current fill colour
    pdf.set_font(FONT_FAMILY, "", 10)
    pdf.ln(3)
