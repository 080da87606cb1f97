"""The class invite sheet: one cut-out slip per student with QR codes, links and codes, and its CSV twin."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

import qrcode
from fpdf.enums import Align, MethodReturnValue, WrapMode, XPos, YPos
from PIL.Image import Image
from qrcode.constants import ERROR_CORRECT_M

from bot.i18n_text import _
from bot.reports.pdf import FONT_FAMILY, MONO_FAMILY, Document
from bot.reports.spreadsheet import spreadsheet_text
from bot.services.invites import SheetEntry, deep_link

# Geometry in millimetres.
PAGE_MARGIN = 10
FOOTER_HEIGHT = 6
SLIP_PADDING = 4
HEADER_HEIGHT = 13
QR_SIZE = 28  # a phone camera reads a 37-module code of this size from arm's length
SECTION_HEIGHT = QR_SIZE + 3  # 3 mm of white around a QR code (its quiet zone) keeps it readable
SECTION_GAP = 4
INSTRUCTION_SIZE = 7.5  # pt
LINE = 3.4  # instruction line height
CODE_GROUP = 5
GREY = (110, 110, 110)
CUT_LINE_GREY = (150, 150, 150)


def format_code(code: str) -> str:
    """The code in groups of five for reading aloud and typing; the bot ignores the spaces."""
    return " ".join(code[i : i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


def build_invite_sheet(
    school_name: str,
    class_label: str,
    entries: Sequence[SheetEntry],
    bot_username: str,
    issued_on: date,
    expires_on: date,
) -> bytes:
    """An A4 PDF of slips to cut out, one per student; `expires_on` is the last day the codes work.

    With one guardian code a slip holds two codes side by side and a page takes four slips.
    """
    pdf = Document(_("Приглашения в бот «Портфолио»: {class_label} класс").format(class_label=class_label))
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
    pdf.add_page()
    if not entries:
        pdf.heading(_("В классе {class_label} нет учащихся.").format(class_label=class_label))
        return bytes(pdf.output())
    sheet = _Sheet(pdf, school_name, class_label, bot_username, issued_on, expires_on, entries)
    for index, entry in enumerate(entries):
        sheet.add_slip(index, entry, last=index == len(entries) - 1)
    return bytes(pdf.output())


class _Sheet:
    """Places the slips: the same size for every student, spread evenly over each page."""

    def __init__(
        self,
        pdf: Document,
        school_name: str,
        class_label: str,
        bot_username: str,
        issued_on: date,
        expires_on: date,
        entries: Sequence[SheetEntry],
    ) -> None:
        self.pdf = pdf
        self.school_name = school_name
        self.class_label = class_label
        self.bot_username = bot_username
        self.issued_on = issued_on
        self.instructions = _instructions(bot_username, expires_on)
        self.width = pdf.w - 2 * PAGE_MARGIN
        self.inner = self.width - 2 * SLIP_PADDING
        self.column = (self.inner - SECTION_GAP) / 2
        # Codes sit two to a row; an odd count leaves a cell free beside the last one for the instructions.
        self.sections = max(len(entry.guardian_codes) for entry in entries) + 1
        self.rows = (self.sections + 1) // 2
        self.instructions_inline = (
            self.sections % 2 == 1 and self._text_height(self.column) <= SECTION_HEIGHT - 1
        )
        instructions_height = 0 if self.instructions_inline else self._text_height(self.inner) + 1
        self.slip_height = 2 * SLIP_PADDING + HEADER_HEIGHT + self.rows * SECTION_HEIGHT + instructions_height
        usable = pdf.h - 2 * PAGE_MARGIN - FOOTER_HEIGHT
        self.per_page = max(1, int(usable // self.slip_height))
        self.pitch = usable / self.per_page

    def _text_height(self, width: float) -> float:
        self.pdf.set_font(FONT_FAMILY, "", INSTRUCTION_SIZE)
        lines = self.pdf.multi_cell(
            width, LINE, self.instructions, dry_run=True, output=MethodReturnValue.LINES
        )
        return len(lines) * LINE

    def add_slip(self, index: int, entry: SheetEntry, *, last: bool) -> None:
        slot = index % self.per_page
        if slot == 0:
            if index > 0:
                self.pdf.add_page()
            self._footer()
        top = PAGE_MARGIN + slot * self.pitch
        self._cut_line(top)
        self._slip(entry, top + (self.pitch - self.slip_height) / 2)
        if slot == self.per_page - 1 or last:
            self._cut_line(top + self.pitch)

    def _footer(self) -> None:
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, "", 7)
        pdf.set_text_color(*GREY)
        pdf.set_xy(PAGE_MARGIN, pdf.h - PAGE_MARGIN - FOOTER_HEIGHT / 2)
        text = _("{school} · {class_label} класс · лист {page}").format(
            school=self.school_name, class_label=self.class_label, page=pdf.page_no()
        )
        pdf.cell(self.width, 3, text, align=Align.C)
        pdf.set_text_color(0)

    def _cut_line(self, y: float) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*CUT_LINE_GREY)
        pdf.set_line_width(0.2)
        pdf.set_dash_pattern(dash=2, gap=1.5)
        pdf.line(PAGE_MARGIN + 5, y, PAGE_MARGIN + self.width, y)
        pdf.set_dash_pattern()
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.set_text_color(*CUT_LINE_GREY)
        pdf.text(PAGE_MARGIN, y + 1.1, "✂")
        pdf.set_text_color(0)

    def _slip(self, entry: SheetEntry, top: float) -> None:
        pdf = self.pdf
        left = PAGE_MARGIN + SLIP_PADDING
        y = top + SLIP_PADDING

        pdf.set_xy(left, y)
        pdf.set_font(FONT_FAMILY, "B", 8.5)
        pdf.cell(self.inner * 0.75, 4, self.school_name)
        pdf.set_font(FONT_FAMILY, "", 8)
        pdf.set_text_color(*GREY)
        issued = _("выдано {date}").format(date=self.issued_on.strftime("%d.%m.%Y"))
        pdf.cell(self.inner * 0.25, 4, issued, align=Align.R)
        pdf.set_text_color(0)

        pdf.set_xy(left, y + 5)
        name_width = self.inner * 0.78
        pdf.set_font(FONT_FAMILY, "B", _fitting_size(pdf, entry.full_name, name_width, 13, smallest=6))
        pdf.cell(name_width, 7, _clipped_to(pdf, entry.full_name, name_width))
        pdf.set_font(FONT_FAMILY, "", 11)
        class_text = _("{class_label} класс").format(class_label=entry.class_label)
        pdf.cell(self.inner - name_width, 7, class_text, align=Align.R)

        sections_top = y + HEADER_HEIGHT
        cells = [(x, sections_top + row * SECTION_HEIGHT) for row in range(self.rows) for x in (0, 1)]
        cells = [(left + column * (self.column + SECTION_GAP), cell_y) for column, cell_y in cells]
        for (x, cell_y), (title, code) in zip(cells, _sections(entry), strict=False):
            self._section(x, cell_y, title, code)
        pdf.set_draw_color(210)
        pdf.set_line_width(0.2)
        divider_x = left + self.column + SECTION_GAP / 2
        pdf.line(divider_x, sections_top, divider_x, sections_top + self.rows * SECTION_HEIGHT - 3)

        x, instructions_y = cells[-1] if self.instructions_inline else (left, cells[-1][1] + SECTION_HEIGHT)
        pdf.set_xy(x, instructions_y)
        pdf.set_font(FONT_FAMILY, "", INSTRUCTION_SIZE)
        width = self.column if self.instructions_inline else self.inner
        pdf.multi_cell(width, LINE, self.instructions, align=Align.L)

    def _section(self, x: float, y: float, title: str, code: str | None) -> None:
        pdf = self.pdf
        if code is None:
            pdf.set_xy(x, y)
            pdf.set_font(FONT_FAMILY, "B", 9)
            pdf.multi_cell(self.column, 4, title, align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
            pdf.set_font(FONT_FAMILY, "", 8)
            pdf.set_text_color(*GREY)
            pdf.multi_cell(
                self.column, 3.6, _("Ученик уже подключён к боту, отдельный код не нужен."), align=Align.L
            )
            pdf.set_text_color(0)
            return

        link = deep_link(self.bot_username, code)
        pdf.image(_qr_image(link), x=x, y=y, w=QR_SIZE, h=QR_SIZE, link=link)
        text_x = x + QR_SIZE + 3
        text_width = self.column - QR_SIZE - 3
        pdf.set_xy(text_x, y)
        pdf.set_font(FONT_FAMILY, "B", 9)
        pdf.multi_cell(text_width, 4, title, align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_xy(text_x, pdf.get_y() + 0.6)
        _label(pdf, _("Код приглашения"), text_width)
        pdf.set_font(MONO_FAMILY, "B", 9.5)
        pdf.multi_cell(text_width, 4.4, format_code(code), align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_xy(text_x, pdf.get_y() + 0.6)
        _label(pdf, _("Ссылка"), text_width)
        pdf.set_font(MONO_FAMILY, "", 6.5)
        pdf.multi_cell(text_width, 2.9, link, align=Align.L, wrapmode=WrapMode.CHAR, link=link)


def _sections(entry: SheetEntry) -> list[tuple[str, str | None]]:
    """(title, code) of each code on the slip: the guardians' first, then the student's."""
    count = len(entry.guardian_codes)
    sections: list[tuple[str, str | None]] = []
    for number, code in enumerate(entry.guardian_codes, start=1):
        title = _("Для родителя")
        if count > 1:
            title += " · " + _("код {number} из {count}").format(number=number, count=count)
        sections.append((title, code))
    sections.append((_("Для ученика"), entry.student_code))
    return sections


def _instructions(bot_username: str, expires_on: date) -> str:
    return "\n".join(
        (
            _(
                "Как подключиться: наведите камеру телефона на QR-код или откройте ссылку — откроется бот "
                "«Портфолио» в Telegram. Нажмите «Старт» (Start). Можно также найти в Telegram бота @{bot}, "
                "нажать «Старт» и отправить ему код."
            ).format(bot=bot_username.removeprefix("@")),
            _(
                "Каждый код одноразовый и действует до {date} включительно. Код для ученика передайте "
                "ребёнку. Не передавайте коды посторонним."
            ).format(date=expires_on.strftime("%d.%m.%Y")),
        )
    )


def _label(pdf: Document, text: str, width: float) -> None:
    pdf.set_font(FONT_FAMILY, "", 6.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 3, text, align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(0)


def _fitting_size(pdf: Document, text: str, width: float, size: float, smallest: float = 8) -> float:
    """The largest font size up to `size` at which `text` fits in `width` (long double surnames)."""
    while size > smallest:
        pdf.set_font_size(size)
        if pdf.get_string_width(text) <= width - 2 * pdf.c_margin:
            break
        size -= 0.5
    return size


def _clipped_to(pdf: Document, text: str, width: float) -> str:
    """`text` cut with «…» so that it never runs into its neighbour (a name longer than any real one)."""
    while len(text) > 1 and pdf.get_string_width(text) > width - 2 * pdf.c_margin:
        text = text[:-2] + "…"
    return text


def _qr_image(data: str) -> Image:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.make_image().get_image()


def build_invite_csv(entries: Sequence[SheetEntry], bot_username: str, expires_on: date) -> bytes:
    """The sheet's codes as CSV for Excel (UTF-8 with BOM, `;`): one row per student."""
    guardian_slots = max((len(entry.guardian_codes) for entry in entries), default=1)
    header = [_("Класс"), _("ФИО ученика")]
    for number in range(1, guardian_slots + 1):
        suffix = f" {number}" if guardian_slots > 1 else ""
        header += [_("Ссылка для родителя") + suffix, _("Код для родителя") + suffix]
    header += [_("Ссылка для ученика"), _("Код для ученика"), _("Действует до")]

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for entry in entries:
        row = [entry.class_label, spreadsheet_text(entry.full_name)]
        for number in range(guardian_slots):
            code = entry.guardian_codes[number] if number < len(entry.guardian_codes) else None
            row += [deep_link(bot_username, code), code] if code else ["", ""]
        code = entry.student_code
        row += [deep_link(bot_username, code), code] if code else ["", ""]
        row.append(expires_on.strftime("%d.%m.%Y"))
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8-sig")
