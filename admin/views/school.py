"""Classes and students: lists with search, a student's edit form, and marking a student left or graduated."""

from __future__ import annotations

from typing import Any

from sqladmin import expose
from sqlmodel import col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.context import ctx_of, principal_of
from admin.views.base import (
    LEVEL_LABELS,
    STUDENT_STATUS_LABELS,
    ScopedView,
    class_label_of,
    mapped_label,
    not_found,
)
from bot.i18n_text import _
from bot.services import access, students
from bot.services.access import Action
from models import SchoolClass, Student
from models.base import utcnow
from models.enums import AuditChannel, StudentStatus


class ClassView(ScopedView, model=SchoolClass):
    name = "Класс"
    name_plural = "Классы"
    icon = "fa-solid fa-people-roof"
    category = "Школа"
    class_column = SchoolClass.__table__.c.id
    column_list = ["id", "label", "grade", "letter", "level"]
    column_details_list = ["id", "label", "grade", "letter", "level", "created_at"]
    column_labels = {
        "id": "№",
        "label": "Класс",
        "grade": "Параллель",
        "letter": "Буква",
        "level": "Уровень",
        "created_at": "Добавлен",
    }
    column_formatters = {
        "label": lambda c, _a: c.label,
        "level": lambda c, _a: mapped_label(LEVEL_LABELS, c.level),
    }
    column_formatters_detail = column_formatters
    column_default_sort = [("grade", False), ("letter", False)]


class StudentView(ScopedView, model=Student):
    name = "Ученик"
    name_plural = "Ученики"
    icon = "fa-solid fa-user-graduate"
    category = "Школа"
    can_edit = True
    edit_requires = Action.MANAGE_ROSTER
    class_column = Student.__table__.c.class_id
    details_template = "admin/student_details.html"
    column_list = ["id", "surname", "name", "patronymic", "class_id", "status", "external_id"]
    column_details_list = [
        "id",
        "surname",
        "name",
        "patronymic",
        "class_id",
        "birth_date",
        "external_id",
        "status",
        "status_changed_at",
        "account_id",
        "created_at",
    ]
    column_labels = {
        "id": "№",
        "surname": "Фамилия",
        "name": "Имя",
        "patronymic": "Отчество",
        "class_id": "Класс",
        "birth_date": "Дата рождения",
        "external_id": "Внешний ID",
        "status": "Статус",
        "status_changed_at": "Статус изменён",
        "account_id": "Свой аккаунт в боте",
        "created_at": "Добавлен",
    }
    column_searchable_list = ["surname", "name", "patronymic", "external_id"]
    column_sortable_list = ["surname", "name", "class_id", "status"]
    column_default_sort = [("surname", False), ("name", False)]
    column_formatters = {
        "class_id": lambda s, _a, request: class_label_of(request, s.class_id),
        "status": lambda s, _a: mapped_label(STUDENT_STATUS_LABELS, s.status),
        "account_id": lambda s, _a: "да" if s.account_id else "нет",
    }
    column_formatters_detail = column_formatters
    # Names, birth date and e-journal id; the class changes with a roster import, the status below.
    form_columns = ["surname", "name", "patronymic", "birth_date", "external_id"]

    async def on_model_change(self, data: dict, model: Any, is_created: bool, request: Request) -> None:
        # SQLAdmin would show the database's own error (in English, with SQL); its message is shown instead.
        external_id = data.get("external_id")
        if external_id:
            async with ctx_of(request).session_factory() as session:
                taken = (
                    await session.exec(
                        select(Student.id).where(Student.external_id == external_id, Student.id != model.id)
                    )
                ).first()
            if taken is not None:
                raise ValueError(_("Этот внешний ID уже записан у другого ученика."))
        await super().on_model_change(data, model, is_created, request)

    async def details_context(self, request: Request) -> dict[str, Any]:
        context = await super().details_context(request)
        context["may_change_status"] = access.may_manage_roster(principal_of(request))
        context["statuses"] = [(s.value, _(STUDENT_STATUS_LABELS[s])) for s in StudentStatus]
        return context

    @expose("/{pk:id}/status", methods=["POST"])
    async def change_status(self, request: Request) -> Response:
        """Mark a student left, graduated or active again (administrators)."""
        principal = principal_of(request)
        if not access.may_manage_roster(principal):
            raise HTTPException(status_code=403)
        form = await request.form()
        try:
            status = StudentStatus(str(form.get("status", "")))
        except ValueError as error:
            raise not_found() from error
        pk = request.path_params["pk"]
        async with ctx_of(request).session_factory() as session:
            student = (await session.exec(select(Student).where(col(Student.id) == pk))).first()
            if student is None:
                raise not_found()
            await students.set_student_status(
                session, student.id, status, principal.account_id, AuditChannel.WEB, utcnow()
            )
        return RedirectResponse(
            request.url_for("admin:details", identity=self.identity, pk=pk), status_code=303
        )
