"""Roster import: the class lists from the e-journal (CSV or XLSX) into classes and students.

Parsing (file → `RosterRow`s and row errors) is separate from applying (rows → database) so that the
web admin can show a preview (`dry_run=True`) before anything changes. Re-importing the same file
changes nothing. Logs carry counts only: the rows are children's personal data.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from openpyxl import load_workbook
from openpyxl.utils.datetime import from_excel
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _
from bot.services import audit
from models import SchoolClass, Student
from models.base import utcnow
from models.enums import AuditChannel, StudentStatus

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 100
EXTERNAL_ID_MAX_LENGTH = 64
# A title line or two may precede the header in exported files.
HEADER_SEARCH_ROWS = 10

# Column → accepted header names, compared after `_header_key`.
_COLUMN_ALIASES = {
    "class": {"class", "класс"},
    "surname": {"surname", "last name", "lastname", "family name", "фамилия"},
    "name": {"name", "first name", "firstname", "given name", "имя"},
    "patronymic": {"patronymic", "middle name", "middlename", "отчество"},
    "birth_date": {"birth date", "birthdate", "date of birth", "дата рождения"},
    "external_id": {"external id", "externalid", "id", "внешний id", "внешний идентификатор"},
}
_REQUIRED_COLUMNS = ("class", "surname", "name", "patronymic")

# Latin letters that look like Cyrillic ones, typed by mistake in class labels («5A», «11B»).
_LATIN_LOOKALIKES = str.maketrans("ABEKMHOPCTX", "АВЕКМНОРСТХ")
_CLASS_LABEL = re.compile(r"(\d{1,2})([А-ЯЁ])")
_CLASS_LABEL_NOISE = re.compile(r"[\s\"'«»“”„\-–]")

Cell = str | int | float | date | datetime | None


class RosterFormatError(ValueError):
    """The file as a whole can't be read as a roster (not CSV/XLSX, required columns missing)."""


@dataclass(frozen=True)
class RosterRow:
    row_number: int  # as the spreadsheet numbers it, header included, so the admin can find it
    grade: int
    letter: str
    surname: str
    name: str
    patronymic: str
    birth_date: date | None
    external_id: str | None

    @property
    def class_label(self) -> str:
        return f"{self.grade}{self.letter}"

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.surname, self.name, self.patronymic) if part)


@dataclass(frozen=True)
class RowError:
    row_number: int
    reason: str


@dataclass
class ParsedRoster:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class ReportLine:
    row_number: int
    class_label: str
    full_name: str
    student_id: int | None = None  # None for a student a dry run would add
    changes: tuple[str, ...] = ()


@dataclass
class ImportReport:
    dry_run: bool
    added: list[ReportLine] = field(default_factory=list)
    updated: list[ReportLine] = field(default_factory=list)
    unchanged: list[ReportLine] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)
    created_classes: list[str] = field(default_factory=list)

    def format(self) -> str:
        """The report in the admin's language, for the CLI and the web admin."""
        lines = [
            _("Проверка списка учащихся: ничего не изменено.")
            if self.dry_run
            else _("Список учащихся загружен.")
        ]
        lines.append(
            _(
                "Добавлено: {added}, обновлено: {updated}, без изменений: {unchanged}, отклонено: {rejected}."
            ).format(
                added=len(self.added),
                updated=len(self.updated),
                unchanged=len(self.unchanged),
                rejected=len(self.rejected),
            )
        )
        if self.created_classes:
            lines.append(_("Новые классы: {classes}.").format(classes=", ".join(self.created_classes)))
        row = _("строка {number}")
        if self.added:
            lines.append("")
            lines.append(_("Добавлены:"))
            lines += [
                f"  {row.format(number=a.row_number)}: {a.class_label} {a.full_name}" for a in self.added
            ]
        if self.updated:
            lines.append("")
            lines.append(_("Обновлены:"))
            lines += [
                f"  {row.format(number=u.row_number)}: {u.class_label} {u.full_name} — {'; '.join(u.changes)}"
                for u in self.updated
            ]
        if self.rejected:
            lines.append("")
            lines.append(_("Отклонены:"))
            lines += [f"  {row.format(number=r.row_number)}: {r.reason}" for r in self.rejected]
        return "\n".join(lines)

    __str__ = format


# --- Normalisation of single values -------------------------------------------------------------


def normalize_class_label(value: Cell) -> tuple[int, str]:
    """«5а», «5 А», «5-A», «5 «а»» → (5, «А»). Raises ValueError for anything else."""
    text = unicodedata.normalize("NFC", _cell_text(value)).upper().translate(_LATIN_LOOKALIKES)
    match = _CLASS_LABEL.fullmatch(_CLASS_LABEL_NOISE.sub("", text))
    if not match or not 1 <= int(match[1]) <= 11:
        raise ValueError(text)
    return int(match[1]), match[2]


def normalize_name(value: Cell) -> str:
    """Trimmed, inner whitespace collapsed, «Римский - Корсаков» → «Римский-Корсаков»; ё kept."""
    text = " ".join(unicodedata.normalize("NFC", _cell_text(value)).split())
    return re.sub(r"\s*-\s*", "-", text)


def parse_birth_date(value: Cell) -> date | None:
    """dd.mm.yyyy, yyyy-mm-dd or a spreadsheet date; None when empty. Raises ValueError otherwise."""
    if isinstance(value, datetime):
        parsed = value.date()
    elif isinstance(value, date):
        parsed = value
    elif isinstance(value, int | float):
        # A date cell that lost its format in the spreadsheet: Excel's serial day number.
        parsed = _as_date(from_excel(value))
    else:
        text = _cell_text(value)
        if not text:
            return None
        parsed = _parse_date_text(text)
    if not date(1950, 1, 1) <= parsed <= date.today():
        raise ValueError(parsed)
    return parsed


def _parse_date_text(text: str) -> date:
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError(value)


def _cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed into a number cell comes back as 12345.0
    return str(value).strip()


def _fold(text: str) -> str:
    """Key for matching names: case and ё/е differences don't make another person."""
    return text.casefold().replace("ё", "е")


def _header_key(value: Cell) -> str:
    text = re.sub(r"[\s_]+", " ", _cell_text(value).casefold().replace("ё", "е"))
    return text.strip(" :*.")


# --- Parsing ------------------------------------------------------------------------------------


def parse_roster(data: bytes, filename: str = "") -> ParsedRoster:
    """Read a roster file (CSV in UTF-8/cp1251 with `;`, `,` or tab, or XLSX) into rows and row errors."""
    if data.startswith(b"PK\x03\x04") or filename.lower().endswith(".xlsx"):
        records = _xlsx_records(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterFormatError(
            _("Старый формат Excel (.xls) не поддерживается: сохраните файл как .xlsx или CSV.")
        )
    else:
        records = _csv_records(data)
    return _parse_records(records)


def _csv_records(data: bytes) -> list[list[Cell]]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")  # Excel's «Unicode text» export
        except UnicodeDecodeError as error:  # cut short, or not UTF-16 after all
            raise RosterFormatError(_("Не удалось прочитать файл: неизвестная кодировка.")) from error
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Windows Excel saves CSV in cp1251; it decodes almost any bytes, so it is the fallback.
            try:
                text = data.decode("cp1251")
            except UnicodeDecodeError as error:
                raise RosterFormatError(_("Не удалось прочитать файл: неизвестная кодировка.")) from error
    sample = [line for line in text.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]
    delimiter = max(";,\t", key=lambda d: sum(line.count(d) for line in sample))
    return [list(record) for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _xlsx_records(data: bytes) -> list[list[Cell]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds of errors on a damaged file
        raise RosterFormatError(_("Не удалось открыть файл XLSX.")) from error
    try:
        sheet = workbook.worksheets[0]
        return [list(values) for values in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _find_header(records: Sequence[Sequence[Cell]]) -> tuple[int, dict[str, int]]:
    for index, record in enumerate(records[:HEADER_SEARCH_ROWS]):
        columns: dict[str, int] = {}
        for position, value in enumerate(record):
            key = _header_key(value)
            for column, aliases in _COLUMN_ALIASES.items():
                if key in aliases:
                    columns.setdefault(column, position)
        if all(column in columns for column in _REQUIRED_COLUMNS):
            return index, columns
    raise RosterFormatError(
        _("Не найдена строка заголовков с колонками «Класс», «Фамилия», «Имя», «Отчество».")
    )


def _parse_records(records: Sequence[Sequence[Cell]]) -> ParsedRoster:
    header_index, columns = _find_header(records)
    parsed = ParsedRoster()
    seen_ids: dict[str, int] = {}
    seen_names: dict[tuple[str, ...], list[tuple[int, str | None]]] = {}
    for index in range(header_index + 1, len(records)):
        record = records[index]
        row_number = index + 1
        if all(_cell_text(value) == "" for value in record):
            continue

        values = {column: record[position] for column, position in columns.items() if position < len(record)}
        row_or_error = _parse_row(row_number, values)
        if isinstance(row_or_error, RowError):
            parsed.errors.append(row_or_error)
            continue
        row = row_or_error
        duplicate_of = _duplicate_of(row, seen_ids, seen_names)
        if duplicate_of is not None:
            parsed.errors.append(
                RowError(row_number, _("повторяет строку {number}").format(number=duplicate_of))
            )
            continue
        if row.external_id:
            seen_ids[row.external_id] = row_number
        seen_names.setdefault(_row_key(row), []).append((row_number, row.external_id))
        parsed.rows.append(row)
    return parsed


def _parse_row(row_number: int, values: dict[str, Cell]) -> RosterRow | RowError:
    surname, name, patronymic = (normalize_name(values.get(c)) for c in ("surname", "name", "patronymic"))
    if not surname:
        return RowError(row_number, _("не указана фамилия"))
    if not name:
        return RowError(row_number, _("не указано имя"))
    for value in (surname, name, patronymic):
        if len(value) > NAME_MAX_LENGTH:
            return RowError(row_number, _("слишком длинное имя, фамилия или отчество"))
        if value and not any(char.isalpha() for char in value):
            return RowError(row_number, _("в имени, фамилии или отчестве нет букв"))
    try:
        grade, letter = normalize_class_label(values.get("class"))
    except ValueError:
        return RowError(
            row_number,
            _("непонятный класс «{label}»: нужен номер 1–11 и буква, например 5А").format(
                label=_cell_text(values.get("class"))
            ),
        )
    try:
        birth_date = parse_birth_date(values.get("birth_date"))
    except ValueError:
        return RowError(
            row_number,
            _("непонятная дата рождения «{value}»: нужна ДД.ММ.ГГГГ").format(
                value=_cell_text(values.get("birth_date"))
            ),
        )
    external_id = _cell_text(values.get("external_id")) or None
    if external_id is not None and len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        return RowError(row_number, _("слишком длинный внешний id"))
    return RosterRow(row_number, grade, letter, surname, name, patronymic, birth_date, external_id)


def _row_key(row: RosterRow) -> tuple[str, ...]:
    return (_fold(row.surname), _fold(row.name), _fold(row.patronymic), row.class_label)


def _duplicate_of(
    row: RosterRow,
    seen_ids: dict[str, int],
    seen_names: dict[tuple[str, ...], list[tuple[int, str | None]]],
) -> int | None:
    """The earlier row this one repeats: same external id, or same name and class unless both rows
    carry different external ids (two namesakes in one class)."""
    if row.external_id and row.external_id in seen_ids:
        return seen_ids[row.external_id]
    for earlier_number, earlier_id in seen_names.get(_row_key(row), []):
        if not (row.external_id and earlier_id and row.external_id != earlier_id):
            return earlier_number
    return None


# --- Applying -----------------------------------------------------------------------------------


async def import_roster(
    session: AsyncSession,
    source: bytes | ParsedRoster,
    *,
    filename: str = "",
    dry_run: bool = False,
    channel: AuditChannel = AuditChannel.CLI,
    actor_account_id: int | None = None,
) -> ImportReport:
    """Add, update or leave each student of a roster file (or of one already parsed for a preview).

    A row matches a student by external id when it has one, else by surname, name, patronymic and
    class; a row with an external id also adopts a same-named student of its class that has none yet.
    Empty birth dates don't erase known ones. Students missing from the file are left as they are:
    a file often holds one class only. `dry_run` reports what would happen and changes nothing;
    otherwise the import is audited and committed. Raises RosterFormatError for an unreadable file.
    """
    parsed = source if isinstance(source, ParsedRoster) else parse_roster(source, filename)
    classes = {(c.grade, c.letter): c for c in (await session.exec(select(SchoolClass))).all()}
    labels = {c.id: c.label for c in classes.values()}
    students = (await session.exec(select(Student))).all()
    by_external_id = {s.external_id: s for s in students if s.external_id}
    by_name: dict[tuple[str, ...], list[Student]] = {}
    for student in students:
        by_name.setdefault(_student_key(student, labels[student.class_id]), []).append(student)

    report = ImportReport(dry_run=dry_run, rejected=list(parsed.errors))
    claimed: dict[int, int] = {}  # student id → the row that matched it
    for row in parsed.rows:
        student, error = _match(row, by_external_id, by_name)
        if error is None and student is not None and student.id in claimed:
            error = _("тот же учащийся, что в строке {number}").format(number=claimed[student.id])
        if error is not None:
            report.rejected.append(RowError(row.row_number, error))
            continue

        school_class = classes.get((row.grade, row.letter))
        if school_class is None:
            school_class = SchoolClass(grade=row.grade, letter=row.letter)
            classes[(row.grade, row.letter)] = school_class
            report.created_classes.append(row.class_label)
            if not dry_run:
                session.add(school_class)
                await session.flush()
                labels[school_class.id] = school_class.label

        if student is None:
            student_id = None
            if not dry_run:
                student = _new_student(row, school_class)
                session.add(student)
                await session.flush()
                student_id = student.id
            report.added.append(ReportLine(row.row_number, row.class_label, row.full_name, student_id))
            continue

        assert student.id is not None
        claimed[student.id] = row.row_number
        changes = _changes(student, row, labels[student.class_id])
        line = ReportLine(row.row_number, row.class_label, row.full_name, student.id, tuple(changes))
        if not changes:
            report.unchanged.append(line)
            continue
        report.updated.append(line)
        if not dry_run:
            _update_student(student, row, school_class)

    report.rejected.sort(key=lambda error: error.row_number)
    if not dry_run:
        # Each child's register shows that an import added or changed their record (no values: the
        # log outlives the records it describes).
        for action, lines in (
            ("roster_student_added", report.added),
            ("roster_student_updated", report.updated),
        ):
            for line in lines:
                await audit.record(
                    session,
                    action=action,
                    channel=channel,
                    actor_account_id=actor_account_id,
                    student_id=line.student_id,
                    object_type="student",
                    object_id=line.student_id,
                )
    logger.info(
        "roster import%s: %d added, %d updated, %d unchanged, %d rejected, %d classes created",
        " (dry run)" if dry_run else "",
        len(report.added),
        len(report.updated),
        len(report.unchanged),
        len(report.rejected),
        len(report.created_classes),
    )
    if not dry_run:
        await audit.record(
            session,
            action="roster_imported",
            channel=channel,
            actor_account_id=actor_account_id,
            object_type="roster",
            details=(
                f"added={len(report.added)} updated={len(report.updated)} "
                f"unchanged={len(report.unchanged)} rejected={len(report.rejected)} "
                f"classes_created={len(report.created_classes)}"
            ),
        )
        await session.commit()
    return report


def _student_key(student: Student, class_label: str) -> tuple[str, ...]:
    return (_fold(student.surname), _fold(student.name), _fold(student.patronymic), class_label)


def _match(
    row: RosterRow,
    by_external_id: dict[str, Student],
    by_name: dict[tuple[str, ...], list[Student]],
) -> tuple[Student | None, str | None]:
    """The student the row is about (None: a new one), or the reason the row can't be applied."""
    if row.external_id and row.external_id in by_external_id:
        return by_external_id[row.external_id], None
    candidates = by_name.get(_row_key(row), [])
    if row.external_id:
        # Someone with another external id is a namesake, not this student.
        candidates = [s for s in candidates if s.external_id is None]
    if len(candidates) > 1:
        return None, _("в классе несколько учащихся с таким ФИО: укажите внешний id")
    return (candidates[0] if candidates else None), None


def _new_student(row: RosterRow, school_class: SchoolClass) -> Student:
    assert school_class.id is not None
    return Student(
        class_id=school_class.id,
        surname=row.surname,
        name=row.name,
        patronymic=row.patronymic,
        birth_date=row.birth_date,
        external_id=row.external_id,
    )


def _changes(student: Student, row: RosterRow, class_label: str) -> list[str]:
    """What applying the row would change, described for the admin."""
    changes = []
    if class_label != row.class_label:
        changes.append(_("класс: {old} → {new}").format(old=class_label, new=row.class_label))
    for title, old, new in (
        (_("фамилия"), student.surname, row.surname),
        (_("имя"), student.name, row.name),
        (_("отчество"), student.patronymic, row.patronymic),
    ):
        if old != new:
            changes.append(f"{title}: {old or '—'} → {new or '—'}")
    if row.birth_date is not None and row.birth_date != student.birth_date:
        old_date = student.birth_date.strftime("%d.%m.%Y") if student.birth_date else "—"
        changes.append(
            _("дата рождения: {old} → {new}").format(old=old_date, new=row.birth_date.strftime("%d.%m.%Y"))
        )
    if row.external_id and row.external_id != student.external_id:
        changes.append(
            _("внешний id: {old} → {new}").format(old=student.external_id or "—", new=row.external_id)
        )
    if student.status != StudentStatus.ACTIVE:
        old_status = _("выпускник") if student.status == StudentStatus.GRADUATED else _("выбыл")
        changes.append(_("статус: {old} → {new}").format(old=old_status, new=_("обучается")))
    return changes


def _update_student(student: Student, row: RosterRow, school_class: SchoolClass) -> None:
    assert school_class.id is not None
    now = utcnow()
    student.class_id = school_class.id
    student.surname, student.name, student.patronymic = row.surname, row.name, row.patronymic
    if row.birth_date is not None:
        student.birth_date = row.birth_date
    if row.external_id:
        student.external_id = row.external_id
    if student.status != StudentStatus.ACTIVE:
        student.status = StudentStatus.ACTIVE
        student.status_changed_at = now
    student.updated_at = now
