"""Tables for Excel: XLSX (openpyxl) and CSV the way Russian Excel opens it (UTF-8 with BOM, `;`).

A `Sheet` is plain data — a title, typed columns and rows — built by a service; this module only writes.
Dates stay real dates in XLSX (sortable, filterable) and become ДД.ММ.ГГГГ in CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

Value = str | int | date | datetime | None

_DATE_FORMAT = "DD.MM.YYYY"
_DATETIME_FORMAT = "DD.MM.YYYY HH:MM"
# Excel's limit for a sheet title, and characters it refuses there.
_TITLE_LIMIT = 31
_TITLE_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


class ColumnType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"  # naive, already in the school's zone (Excel has no time zones)


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # in characters
    type: ColumnType = ColumnType.TEXT


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Value]]


def spreadsheet_text(value: str) -> str:
    """Excel runs a cell that starts with = + - @ as a formula (a leading tab or carriage return is skipped
    before it): such text gets a leading apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_xlsx(sheet: Sheet) -> bytes:
    """One worksheet: bold frozen header, autofilter, column widths, real dates."""
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet.title.translate(_TITLE_FORBIDDEN)[:_TITLE_LIMIT]
    worksheet.append([column.title for column in sheet.columns])
    bold = Font(bold=True)
    for cell in worksheet[1]:
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in sheet.rows:
        worksheet.append([_xlsx_value(value) for value in row])
    for index, column in enumerate(sheet.columns, start=1):
        letter = get_column_letter(index)
        worksheet.column_dimensions[letter].width = column.width
        number_format = {ColumnType.DATE: _DATE_FORMAT, ColumnType.DATETIME: _DATETIME_FORMAT}.get(
            column.type
        )
        for (cell,) in worksheet.iter_rows(min_row=2, min_col=index, max_col=index):
            if cell.data_type == "f":
                # openpyxl takes text starting with «=» for a formula: keep people's text as text.
                cell.data_type = "s"
            if number_format and cell.value is not None:
                cell.number_format = number_format
    worksheet.freeze_panes = "A2"
    last = get_column_letter(max(len(sheet.columns), 1))
    worksheet.auto_filter.ref = f"A1:{last}{max(len(sheet.rows) + 1, 1)}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def to_csv(sheet: Sheet) -> bytes:
    """UTF-8 with BOM and `;`, so that Russian Excel opens it by a double click."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([column.title for column in sheet.columns])
    for row in sheet.rows:
        writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_value(value: Value) -> Value:
    if isinstance(value, datetime) and value.tzinfo is not None:
        raise ValueError("spreadsheet datetimes must be naive, in the school's zone")
    return value


def _csv_value(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, int):
        return str(value)
    return spreadsheet_text(value)
