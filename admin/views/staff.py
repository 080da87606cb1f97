"""Staff and their roles (administrators only)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from starlette.requests import Request

from admin.context import ctx_of
from admin.views.base import LEVEL_LABELS, ROLE_LABELS, ScopedView, class_label_of, mapped_label
from bot.services.access import Action
from models import Account, StaffAssignment


class StaffView(ScopedView, model=StaffAssignment):
    name = "Роль сотрудника"
    name_plural = "Сотрудники"
    icon = "fa-solid fa-id-badge"
    category = "Школа"
    requires = Action.MANAGE_ROSTER
    column_list = ["account_id", "role", "level", "class_id", "active", "created_at"]
    column_details_list = ["account_id", "role", "level", "class_id", "active", "created_at", "ended_at"]
    column_labels = {
        "account_id": "Сотрудник",
        "role": "Роль",
        "level": "Уровень",
        "class_id": "Класс",
        "active": "Действует",
        "created_at": "С",
        "ended_at": "По",
    }
    column_sortable_list = ["account_id", "role", "active"]
    column_default_sort = [("active", True), ("role", False)]
    column_formatters = {
        "account_id": lambda a, _n, request: request.state.staff_names.get(a.account_id, "—"),
        "role": lambda a, _n: mapped_label(ROLE_LABELS, a.role),
        "level": lambda a, _n: mapped_label(LEVEL_LABELS, a.level) if a.level else "—",
        "class_id": lambda a, _n, request: class_label_of(request, a.class_id) if a.class_id else "—",
        "active": lambda a, _n: "да" if a.active else "нет",
    }
    column_formatters_detail = column_formatters

    def scope(self, stmt: Any, request: Request) -> Any:
        return stmt  # only those who manage the roster open it (`requires`): they see all staff

    async def load_labels(self, request: Request) -> None:
        await super().load_labels(request)
        async with ctx_of(request).session_factory() as session:
            rows = (
                await session.exec(
                    select(Account).join(StaffAssignment, StaffAssignment.account_id == Account.id).distinct()
                )
            ).all()
        request.state.staff_names = {a.id: a.name for a in rows}
