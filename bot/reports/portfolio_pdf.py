"""The portfolio as a PDF («Скачать PDF»): approved achievements by academic year and category, rewards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fpdf.enums import Align, XPos, YPos

from bot.i18n_text import _
from bot.reports.extract import (
    GREY,
    ReportDocument,
    achievements_table,
    fields_block,
    format_date,
    note,
    rewards_section,
    school_header,
    section_heading,
    title_block,
)
from bot.reports.pdf import FONT_FAMILY
from bot.services.portfolio import PortfolioEntry, RewardEntry, group_by_year_and_category


def build_portfolio_pdf(
    school_name: str,
    student_full_name: str,
    class_label: str,
    generated_at: datetime,
    entries: Sequence[PortfolioEntry],
    rewards: Sequence[RewardEntry],
) -> bytes:
    """An A4 PDF of the portfolio. `generated_at` is aware and in the school's zone."""
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    title = _("Портфолио достижений обучающегося")
    footer = _("Портфолио · {student} · {date}").format(
        student=student_full_name, date=format_date(generated_at.date())
    )
    pdf = ReportDocument(title, footer)
    pdf.set_subject(footer)
    pdf.set_author(school_name)
    pdf.add_page()
    school_header(pdf, school_name)
    title_block(pdf, title, _("по состоянию на {date}").format(date=generated_at.strftime("%d.%m.%Y %H:%M")))
    fields_block(
        pdf,
        [
            (_("Обучающийся:"), student_full_name),
            (_("Класс:"), class_label),
            (_("Подтверждённых достижений:"), str(len(entries))),
        ],
    )
    groups = group_by_year_and_category(entries)
    if not groups:
        note(pdf, _("Подтверждённых достижений нет"))
    for year in groups:
        if pdf.get_y() > pdf.h - pdf.b_margin - 40:
            pdf.add_page()
        pdf.ln(2)
        pdf.heading(
            _("{year} учебный год — достижений: {count}").format(year=year.label, count=year.count), level=2
        )
        for category in year.categories:
            section_heading(pdf, f"{category.label}: {category.count}")
            achievements_table(pdf, category.entries, with_category=False)
    rewards_section(pdf, rewards)
    pdf.set_font(FONT_FAMILY, "", 8.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(
        0,
        4.2,
        _(
            "Показаны достижения, подтверждённые классным руководителем. Документ не заменяет выписку по п. 6.4."
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(0)
    return bytes(pdf.output())
