"""The extract issued on a results request (regulation 6.4): approved achievements, rewards, a signature
line and a verification code with its QR code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import qrcode
from fpdf.enums import Align, XPos, YPos
from PIL.Image import Image
from qrcode.constants import ERROR_CORRECT_M

from bot.i18n_text import _
from bot.reports.pdf import FONT_FAMILY, MONO_FAMILY, Document
from bot.services.portfolio import PortfolioEntry, RewardEntry
from bot.services.verification import QR_PREFIX

QR_SIZE = 30  # mm
GREY = (90, 90, 90)
RULE_GREY = (160, 160, 160)
# Column widths in mm; the page is 180 mm wide between margins.
# Sized for 7.5 pt DejaVu so that no word is split: «28.02.2026», «межрегиональный», «исследовательская»,
# and the row number up to «999» (a portfolio of 120) with its English header «No.».
TABLE_FONT_SIZE = 7.5
ACHIEVEMENT_WIDTHS = (9, 19, 51, 30, 29, 21, 21)
REWARD_WIDTHS = (9, 19, 45, 77, 30)
# Room the signature line and the verification block need together: they are never split.
CLOSING_HEIGHT = 16 + 6 + QR_SIZE + 2


def format_date(value: date) -> str:
    return value.strftime("%d.%m.%Y")


class ReportDocument(Document):
    """A `Document` with a footer on every page: what the document is and «стр. N из M»."""

    def __init__(self, title: str, footer: str) -> None:
        super().__init__(title)
        self.footer_text = footer

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, "", 7.5)
        self.set_text_color(*GREY)
        page = _("стр. {page} из {pages}").format(page=self.page_no(), pages=self.str_alias_nb_pages)
        self.cell(self.epw * 0.75, 4, self.footer_text, align=Align.L)
        self.cell(self.epw * 0.25, 4, page, align=Align.R)
        self.set_text_color(0)


def school_header(pdf: Document, school_name: str) -> None:
    """The school's name centred above a thin rule, as on the school's letterhead."""
    pdf.set_font(FONT_FAMILY, "B", 11)
    pdf.paragraph(5.5, school_name, align=Align.C)
    y = pdf.get_y() + 1.5
    pdf.set_draw_color(*RULE_GREY)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 6)


def title_block(pdf: Document, title: str, subtitle: str) -> None:
    pdf.set_font(FONT_FAMILY, "B", 14)
    pdf.paragraph(7, title, align=Align.C)
    pdf.set_font(FONT_FAMILY, "", 10.5)
    pdf.paragraph(6, subtitle, align=Align.C)
    pdf.ln(5)


def fields_block(pdf: Document, fields: Sequence[tuple[str, str]]) -> None:
    """«Обучающийся: Иванов Пётр» lines: the label in grey, the value in bold."""
    label_width = max(pdf.get_string_width(name) for name, _value in fields) + 6
    label_width = max(label_width, 40)
    for name, value in fields:
        pdf.set_font(FONT_FAMILY, "", 10)
        pdf.set_text_color(*GREY)
        pdf.cell(label_width, 6, name)
        pdf.set_text_color(0)
        pdf.set_font(FONT_FAMILY, "B", 10)
        pdf.paragraph(6, value)
    pdf.set_font(FONT_FAMILY, "", 10)
    pdf.ln(4)


def section_heading(pdf: Document, text: str) -> None:
    if pdf.get_y() > pdf.h - pdf.b_margin - 30:  # keep a heading with the first rows under it
        pdf.add_page()
    pdf.ln(2)
    pdf.heading(text, level=3)


def note(pdf: Document, text: str) -> None:
    """A remark such as «Поощрений за неделю нет», in grey. Not in italics: a font more to embed in every
    document, which is most of a small PDF's cost (84 digests a week)."""
    pdf.set_font(FONT_FAMILY, "", 10)
    pdf.set_text_color(*GREY)
    pdf.paragraph(6, text)
    pdf.set_text_color(0)
    pdf.ln(2)


def achievements_table(
    pdf: Document, entries: Sequence[PortfolioEntry], *, with_category: bool = True
) -> None:
    headers = [
        _("№"),
        _("Дата"),
        _("Мероприятие"),
        _("Категория"),
        _("Уровень"),
        _("Результат"),
        _("Источник"),
    ]
    widths = list(ACHIEVEMENT_WIDTHS)
    rows = [
        [
            str(index),
            format_date(entry.event_date),
            entry.title,
            entry.category_label,
            entry.level_label,
            entry.result_label,
            entry.source_label,
        ]
        for index, entry in enumerate(entries, start=1)
    ]
    if not with_category:
        del headers[3], widths[3]
        widths[2] += ACHIEVEMENT_WIDTHS[3]
        for row in rows:
            del row[3]
    pdf.simple_table(headers, rows, widths, font_size=TABLE_FONT_SIZE)
    pdf.ln(3)


def rewards_section(pdf: Document, rewards: Sequence[RewardEntry]) -> None:
    section_heading(pdf, _("Поощрения: {count}").format(count=len(rewards)))
    if not rewards:
        note(pdf, _("Поощрений нет"))
        return
    headers = [_("№"), _("Дата"), _("Вид поощрения"), _("Основание"), _("Приказ")]
    rows = [
        [
            str(index),
            format_date(reward.granted_on),
            reward.kind_label,
            reward.reason,
            _("№ {number}").format(number=reward.order_number) if reward.order_number else "—",
        ]
        for index, reward in enumerate(rewards, start=1)
    ]
    pdf.simple_table(headers, rows, REWARD_WIDTHS, font_size=TABLE_FONT_SIZE)
    pdf.ln(3)


def signature_line(pdf: Document, class_teacher_name: str) -> None:
    pdf.ln(6)
    pdf.set_font(FONT_FAMILY, "", 10.5)
    role = _("Классный руководитель:")
    pdf.cell(pdf.get_string_width(role) + 3, 7, role)
    line_width = 45
    pdf.cell(line_width, 7, "")
    y = pdf.get_y() + 6
    pdf.set_draw_color(0)
    pdf.set_line_width(0.2)
    pdf.line(pdf.get_x() - line_width, y, pdf.get_x(), y)
    pdf.cell(0, 7, " / " + (class_teacher_name or "_______________"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT_FAMILY, "", 7)
    pdf.set_text_color(*GREY)
    pdf.set_x(pdf.l_margin + pdf.get_string_width(role) + 3)
    pdf.set_font(FONT_FAMILY, "", 7)
    pdf.cell(line_width, 3, _("подпись"), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.set_font(FONT_FAMILY, "", 10)


def verification_block(pdf: Document, code: str, hint: str, qr_data: str | None = None) -> None:
    """The QR code (`qr_data`, by default «verify:CODE») beside the code and how staff check it; kept on
    one page."""
    if pdf.get_y() + 6 + QR_SIZE + 2 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(6)
    top = pdf.get_y()
    pdf.set_draw_color(*RULE_GREY)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, top - 3, pdf.w - pdf.r_margin, top - 3)
    pdf.image(qr_image(qr_data or QR_PREFIX + code), x=pdf.l_margin, y=top, w=QR_SIZE, h=QR_SIZE)
    x = pdf.l_margin + QR_SIZE + 5
    width = pdf.w - pdf.r_margin - x
    pdf.set_xy(x, top)
    pdf.set_font(FONT_FAMILY, "", 9)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 5, _("Код проверки подлинности"), align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.set_font(MONO_FAMILY, "B", 13)
    pdf.multi_cell(width, 7, code, align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT_FAMILY, "", 8.5)
    pdf.set_x(x)
    pdf.multi_cell(width, 4.2, hint, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + QR_SIZE) + 2)
    pdf.set_font(FONT_FAMILY, "", 10)


def qr_image(data: str) -> Image:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.make_image().get_image()


def default_verify_hint(code: str) -> str:
    return _(
        "Проверить подлинность может работник школы: отправьте боту «Портфолио» команду /verify {code} "
        "или отсканируйте QR-код."
    ).format(code=code)


def build_extract(
    school_name: str,
    student_full_name: str,
    class_label: str,
    request_number: str,
    issued_at: datetime,
    entries: Sequence[PortfolioEntry],
    rewards: Sequence[RewardEntry],
    class_teacher_name: str,
    verification_code: str,
    verify_hint: str | None = None,
    *,
    period_label: str | None = None,
    qr_data: str | None = None,
) -> bytes:
    """The extract as an A4 PDF. `issued_at` is aware and in the school's zone (it is printed as is);
    `qr_data` is what the QR code holds (the bot's verification link), by default «verify:CODE»."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    title = _("Выписка об индивидуальных образовательных достижениях обучающегося")
    footer = _("Выписка № {number} от {date} · {student}").format(
        number=request_number, date=format_date(issued_at.date()), student=student_full_name
    )
    pdf = ReportDocument(title, footer)
    pdf.set_subject(footer)
    pdf.set_author(school_name)
    pdf.add_page()
    school_header(pdf, school_name)
    subtitle = _("№ {number} от {date}").format(number=request_number, date=format_date(issued_at.date()))
    title_block(pdf, title, subtitle)
    fields = [
        (_("Обучающийся:"), student_full_name),
        (_("Класс:"), class_label),
    ]
    if period_label:
        fields.append((_("Период:"), period_label))
    fields += [
        (_("Дата выдачи:"), issued_at.strftime("%d.%m.%Y %H:%M")),
        (_("Номер запроса:"), request_number),
    ]
    fields_block(pdf, fields)

    section_heading(pdf, _("Подтверждённые достижения: {count}").format(count=len(entries)))
    if entries:
        achievements_table(pdf, entries)
    else:
        note(pdf, _("Подтверждённых достижений нет"))
    rewards_section(pdf, rewards)
    pdf.set_font(FONT_FAMILY, "", 8.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(
        0,
        4.2,
        _(
            "Выписка составлена по данным школьного учёта достижений, подтверждённым классным "
            "руководителем, и выдана по заявлению (п. 6.4 Положения)."
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(0)
    closing(
        pdf,
        class_teacher_name,
        verification_code,
        verify_hint or default_verify_hint(verification_code),
        qr_data,
    )
    return bytes(pdf.output())


def closing(pdf: Document, class_teacher_name: str, code: str, hint: str, qr_data: str | None = None) -> None:
    """The signature line and the verification block, together on one page."""
    if pdf.get_y() + CLOSING_HEIGHT > pdf.h - pdf.b_margin:
        pdf.add_page()
    signature_line(pdf, class_teacher_name)
    verification_block(pdf, code, hint, qr_data)
