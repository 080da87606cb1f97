"""List filters whose choices depend on the request: the classes one may see, and periods of time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, false, func, or_
from sqlmodel import col, select
from starlette.requests import Request

from admin.context import class_ids_of, ctx_of, school_today
from admin.views.base import enum_label, is_record_id
from bot.i18n_text import _
from bot.services.portfolio import academic_year, academic_year_bounds
from models import Account, SchoolClass, Student

ALL = "__all"


class ClassFilter:
    """Rows of one class (through the student's current class); only the visible classes are offered."""

    has_operator = False
    template = "sqladmin/filters/lookup_filter.html"

    def __init__(self, student_column: Any) -> None:
        self.student_column = student_column
        self.title = _("Класс")
        self.parameter_name = "class"

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select], Any]
    ) -> list[tuple[str, str]]:
        class_ids = class_ids_of(request)
        async with ctx_of(request).session_factory() as session:
            classes = (
                await session.exec(select(SchoolClass).order_by(SchoolClass.grade, SchoolClass.letter))
            ).all()
        return [(ALL, _("Все"))] + [
            (str(c.id), c.label) for c in classes if class_ids is None or c.id in class_ids
        ]

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        if not is_record_id(value):
            return query
        students = select(Student.id).where(Student.class_id == int(value))
        return query.where(col(self.student_column).in_(students))


class EnumFilter:
    """One value of a vocabulary column, offered with its Russian labels."""

    has_operator = False
    template = "sqladmin/filters/lookup_filter.html"

    def __init__(
        self, column: Any, enum: type[StrEnum], title: str, labels: Callable[[str], str] | None = None
    ):
        self.column = column
        self.enum = enum
        self.title = title
        self.parameter_name = column.key
        self.labels = labels or (lambda value: enum_label(enum, value))

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select], Any]
    ) -> list[tuple[str, str]]:
        return [(ALL, _("Все"))] + [(v.value, self.labels(v.value)) for v in self.enum]

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        if value not in {v.value for v in self.enum}:
            return query
        return query.where(col(self.column) == value)


def _periods(today: date) -> dict[str, tuple[str, date, date]]:
    year = academic_year(today)
    this_start, this_end = academic_year_bounds(year)
    last_start, last_end = academic_year_bounds(year - 1)
    return {
        "week": (_("Последние 7 дней"), today - timedelta(days=6), today),
        "month": (_("Последние 30 дней"), today - timedelta(days=29), today),
        "year": (_("Этот учебный год"), this_start, this_end),
        "last_year": (_("Прошлый учебный год"), last_start, last_end),
    }


class PeriodFilter:
    """Rows whose date column falls into a period counted back from today (in the school's zone)."""

    has_operator = False
    template = "sqladmin/filters/lookup_filter.html"

    def __init__(self, column: Any, title: str, today: Callable[[], date] = school_today) -> None:
        self.column = column
        self.title = title
        self.parameter_name = "period"
        self.today = today

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select], Any]
    ) -> list[tuple[str, str]]:
        return [(ALL, _("Всё время"))] + [
            (key, title) for key, (title, *_b) in _periods(self.today()).items()
        ]

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        period = _periods(self.today()).get(value)
        if period is None:
            return query
        _title, start, end = period
        return query.where(col(self.column) >= start, col(self.column) <= end)


class TextFilter:
    """A typed value (our form, in Russian; SQLAdmin's operation filter speaks English)."""

    has_operator = False
    template = "admin/filters/text_filter.html"

    def __init__(self, column: Any, title: str, parameter_name: str, placeholder: str) -> None:
        self.column = column
        self.title = title
        self.parameter_name = parameter_name
        self.placeholder = placeholder

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select], Any]
    ) -> list[tuple[str, str]]:
        return []

    def matching_ids(self, text: str) -> Select:
        raise NotImplementedError

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        text = str(value or "").strip()
        if not text:
            return query
        if text.isdigit():  # a number: the record's own (one too long for the database matches nothing)
            return query.where(col(self.column) == int(text)) if is_record_id(text) else query.where(false())
        return query.where(col(self.column).in_(self.matching_ids(text.lower())))


class StudentFilter(TextFilter):
    """Rows about one child: by the student's number, or the beginning of their surname."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, _("Ученик"), "student", _("№ или фамилия"))

    def matching_ids(self, text: str) -> Select:
        return select(Student.id).where(func.lower(Student.surname).startswith(text, autoescape=True))


class AccountFilter(TextFilter):
    """Rows by one person: by their account number, or a part of their name."""

    def __init__(self, column: Any) -> None:
        super().__init__(column, _("Кто"), "actor", _("№ аккаунта или имя"))

    def matching_ids(self, text: str) -> Select:
        return select(Account.id).where(
            or_(
                *(
                    func.lower(name).contains(text, autoescape=True)
                    for name in (Account.display_name, Account.first_name, Account.last_name)
                )
            )
        )


class ValueFilter:
    """One of the values a column holds (the log's actions), with «Все» in Russian."""

    has_operator = False
    template = "sqladmin/filters/lookup_filter.html"

    def __init__(self, column: Any, title: str, parameter_name: str) -> None:
        self.column = column
        self.title = title
        self.parameter_name = parameter_name

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select], Any]
    ) -> list[tuple[str, str]]:
        values = await run_query(select(self.column).distinct().order_by(self.column))
        return [(ALL, _("Все"))] + [(row[0], row[0]) for row in values if row[0]]

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        if not value or value == ALL:
            return query
        return query.where(col(self.column) == str(value))
