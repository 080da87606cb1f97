"""The act on the destruction of personal data (152-ФЗ): what retention destroyed, as CSV and PDF."""

from __future__ import annotations

import csv
import io
from datetime import tzinfo

from fpdf.enums import Align, XPos, YPos

from bot.i18n_text import _
from bot.reports.extract import ReportDocument, fields_block, format_date, school_header, title_block
from bot.services.retention import RetentionReport
from models.enums import StudentStatus

# mm, 180 in all: no header word is split, and a row number up to «999» stays whole.
TABLE_WIDTHS = (9, 34, 12, 18, 18, 23, 14, 21, 17, 14)


def status_label(status: StudentStatus) -> str:
    return _("выпускник") if status == StudentStatus.GRADUATED else _("выбыл")


def _headers() -> list[str]:
    return [
        _("№"),
        _("Обучающийся"),
        _("Класс"),
        _("Статус"),
        _("С даты"),
        _("Достижений"),
        _("Файлов"),
        _("Поощрений"),
        _("Запросов"),
        _("Сводок"),
    ]


def _rows(report: RetentionReport, tz: tzinfo) -> list[list[str]]:
    return [
        [
            str(number),
            item.full_name,
            item.class_label,
            status_label(item.status),
            format_date(item.status_since.astimezone(tz).date()),
            str(item.achievements),
            str(item.files),
            str(item.rewards),
            str(item.requests),
            str(len(item.digests)),
        ]
        for number, item in enumerate(report.students, start=1)
    ]


def build_act_csv(report: RetentionReport, tz: tzinfo) -> bytes:
    """The act's table; UTF-8 with BOM and «;» so that Excel opens it as it is."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(_headers())
    writer.writerows(_rows(report, tz))
    writer.writerow([])
    writer.writerow([_("Файлов без записей удалено"), str(len(report.orphan_files))])
    return out.getvalue().encode("utf-8-sig")


def build_act_pdf(report: RetentionReport, school_name: str, tz: tzinfo) -> bytes:
    title = _("Акт об уничтожении персональных данных обучающихся")
    when = report.now.astimezone(tz)
    pdf = ReportDocument(title, footer=_("Акт от {date}").format(date=when.strftime("%d.%m.%Y")))
    pdf.alias_nb_pages()
    pdf.add_page()
    school_header(pdf, school_name)
    title_block(pdf, title, _("от {date}").format(date=when.strftime("%d.%m.%Y %H:%M")))
    fields_block(
        pdf,
        [
            (_("Основание"), _("ст. 5 ч. 7, ст. 21 ч. 4 Федерального закона № 152-ФЗ")),
            (
                _("Срок хранения"),
                _("{days} дн. после выбытия или выпуска").format(days=report.retention_days),
            ),
            (_("Обучающихся"), str(len(report.students))),
        ],
    )
    pdf.ln(3)
    pdf.multi_cell(
        0,
        5,
        _(
            "Уничтожены записи об индивидуальных достижениях и поощрениях, файлы подтверждающих документов, "
            "история их рассмотрения, запросы и выписки, связи с законными представителями, коды приглашений, "
            "согласия и уведомления по следующим обучающимся:"
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(2)
    rows = _rows(report, tz) or [["—", _("нет"), "", "", "", "0", "0", "0", "0", "0"]]
    pdf.simple_table(_headers(), rows, TABLE_WIDTHS, font_size=7.5)
    pdf.ln(3)
    pdf.multi_cell(
        0,
        5,
        _(
            "«Сводок» — уничтоженные файлы еженедельных сводок (PDF), в которых назван обучающийся; "
            "сводка, где названы и другие обучающиеся, уничтожена целиком."
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.multi_cell(
        0,
        5,
        _("Файлов подтверждающих документов без записей (брошенные черновики) удалено: {count}.").format(
            count=len(report.orphan_files)
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(8)
    for role in (
        _("Председатель комиссии"),
        _("Член комиссии"),
        _("Ответственный за обработку персональных данных"),
    ):
        pdf.cell(105, 8, role)
        pdf.cell(0, 8, "_______________ / _______________", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
