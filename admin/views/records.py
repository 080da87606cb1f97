"""Achievements (with filters), rewards and the results requests register — read-only, scoped by class."""

from __future__ import annotations

from sqlmodel import col

from admin.views.base import ScopedView, enum_label, student_name_of
from admin.views.filters import ClassFilter, EnumFilter, PeriodFilter
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category, reward_kind_label
from models import Achievement, ResultsRequest, Reward
from models.enums import AchievementStatus, RequestScope, Source


class AchievementView(ScopedView, model=Achievement):
    name = "Достижение"
    name_plural = "Достижения"
    icon = "fa-solid fa-trophy"
    category = "Учёт"
    student_column = Achievement.__table__.c.student_id
    shows_students = True
    column_list = ["number", "student_id", "category", "level", "result", "title", "event_date", "status"]
    column_details_list = [
        "number",
        "student_id",
        "category",
        "level",
        "result",
        "title",
        "event_date",
        "source",
        "status",
        "reject_reason",
        "duplicate",
        "created_at",
        "decided_at",
    ]
    column_labels = {
        "number": "Номер",
        "student_id": "Ученик",
        "category": "Категория",
        "level": "Уровень",
        "result": "Результат",
        "title": "Название",
        "event_date": "Дата",
        "source": "Где получено",
        "status": "Статус",
        "reject_reason": "Причина отклонения",
        "duplicate": "Похоже на повтор",
        "created_at": "Прислано",
        "decided_at": "Рассмотрено",
    }
    column_searchable_list = ["number", "title"]
    column_sortable_list = ["number", "event_date", "created_at", "status"]
    column_default_sort = [("created_at", True)]
    column_formatters = {
        "student_id": lambda a, _n, request: student_name_of(request, a.student_id),
        "category": lambda a, _n: enum_label(Category, a.category),
        "level": lambda a, _n: enum_label(AchievementLevel, a.level),
        "result": lambda a, _n: enum_label(AchievementResult, a.result),
        "status": lambda a, _n: enum_label(AchievementStatus, a.status),
        "source": lambda a, _n: enum_label(Source, a.source),
        "duplicate": lambda a, _n: "да" if a.duplicate else "нет",
    }
    column_formatters_detail = column_formatters
    column_filters = [
        ClassFilter(Achievement.student_id),
        EnumFilter(col(Achievement.category), Category, "Категория"),
        EnumFilter(col(Achievement.level), AchievementLevel, "Уровень"),
        EnumFilter(col(Achievement.result), AchievementResult, "Результат"),
        EnumFilter(col(Achievement.status), AchievementStatus, "Статус"),
        PeriodFilter(Achievement.event_date, "Период"),
    ]


class RewardView(ScopedView, model=Reward):
    name = "Поощрение"
    name_plural = "Поощрения"
    icon = "fa-solid fa-award"
    category = "Учёт"
    student_column = Reward.__table__.c.student_id
    shows_students = True
    column_list = ["id", "student_id", "kind", "reason", "granted_on", "order_number"]
    column_details_list = ["id", "student_id", "kind", "reason", "granted_on", "order_number", "created_at"]
    column_labels = {
        "id": "№",
        "student_id": "Ученик",
        "kind": "Вид",
        "reason": "За что",
        "granted_on": "Дата",
        "order_number": "Приказ",
        "created_at": "Записано",
    }
    column_default_sort = [("granted_on", True)]
    column_formatters = {
        "student_id": lambda r, _n, request: student_name_of(request, r.student_id),
        "kind": lambda r, _n: reward_kind_label(r.kind),
    }
    column_formatters_detail = column_formatters
    column_filters = [ClassFilter(Reward.student_id), PeriodFilter(Reward.granted_on, "Период")]


class ResultsRequestView(ScopedView, model=ResultsRequest):
    name = "Запрос результатов"
    name_plural = "Запросы результатов"
    icon = "fa-solid fa-file-signature"
    category = "Учёт"
    student_column = ResultsRequest.__table__.c.student_id
    shows_students = True
    column_list = [
        "number",
        "created_at",
        "student_id",
        "class_label",
        "scope",
        "achievements_count",
        "rewards_count",
    ]
    column_details_list = [*column_list, "extract_sha256"]
    column_labels = {
        "number": "Номер",
        "created_at": "Дата",
        "student_id": "Ученик",
        "class_label": "Класс в выписке",
        "scope": "Период",
        "achievements_count": "Достижений в выписке",
        "rewards_count": "Поощрений в выписке",
        "extract_sha256": "SHA-256 выписки",
    }
    column_searchable_list = ["number"]
    column_default_sort = [("created_at", True)]
    column_formatters = {
        "student_id": lambda r, _n, request: student_name_of(request, r.student_id),
        "class_label": lambda r, _n: r.class_label or "—",  # not kept for requests of before 0005
        "scope": lambda r, _n: "текущий учебный год" if r.scope == RequestScope.CURRENT_YEAR else "все годы",
    }
    column_formatters_detail = column_formatters
    column_filters = [ClassFilter(ResultsRequest.student_id)]
