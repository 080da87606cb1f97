"""What every admin view shares: rows scoped to the classes the signed-in person may see, read-only by
default, Russian labels, and rendering of our own templates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from sqladmin import ModelView
from sqlalchemy import Select, func
from sqlmodel import col, select
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from admin.context import LIST_TZ, class_ids_of, ctx_of, principal_of
from bot.callbacks import row_id
from bot.i18n_text import _
from bot.services import audit
from bot.services.access import Action
from bot.services.taxonomy import label
from models import SchoolClass, Student
from models.enums import AuditChannel, SchoolLevel, StaffRole, StudentStatus

ROLE_LABELS = {
    StaffRole.ADMIN: "Администратор",
    StaffRole.DEPUTY: "Заместитель директора",
    StaffRole.CLASS_TEACHER: "Классный руководитель",
    StaffRole.TEACHER: "Педагог",
}
LEVEL_LABELS = {SchoolLevel.NOO: "НОО (1–4)", SchoolLevel.OOO: "ООО (5–9)", SchoolLevel.SOO: "СОО (10–11)"}
CHANNEL_LABELS = {
    AuditChannel.BOT: "бот",
    AuditChannel.WEB: "веб-админка",
    AuditChannel.CLI: "командная строка",
    AuditChannel.SYSTEM: "система",
}
# What an audit row is about (`object_type`: our names and the admin's view identities).
OBJECT_LABELS = {
    "achievement": "достижение",
    "class": "класс",
    "school_class": "класс",
    "school-class": "класс",
    "digest": "сводка",
    "digest-delivery": "сводка",
    "export": "выгрузка",
    "guardian_link": "связь с родителем",
    "invite": "приглашение",
    "results_request": "запрос результатов",
    "results-request": "запрос результатов",
    "reward": "поощрение",
    "roster": "список учащихся",
    "student": "ученик",
    "student_account": "аккаунт ученика",
    "staff-assignment": "роль сотрудника",
    "audit-event": "журнал доступа",
}
STUDENT_STATUS_LABELS = {
    StudentStatus.ACTIVE: "Учится",
    StudentStatus.LEFT: "Выбыл(а)",
    StudentStatus.GRADUATED: "Выпускник",
}


class RecordIdConvertor(IntegerConvertor):
    """`{name:id}` in a route: a record's id, at most 18 digits. A longer number is no row's id and can't
    even be bound to a query (SQLite's integers end below 2**63): the address is simply not found."""

    regex = "[0-9]{1,18}"


register_url_convertor("id", RecordIdConvertor())


def is_record_id(text: object) -> bool:
    """Whether `text` (an id from an address or a form) can be a record's id at all: what the bot's
    buttons accept as one (`bot.callbacks.row_id`)."""
    return isinstance(text, str) and row_id(text) is not None


def enum_label(enum: type[StrEnum], value: object) -> str:
    """A stored vocabulary value for people; an unknown one as it is."""
    try:
        return label(enum(value))
    except (ValueError, KeyError):
        return str(value or "—")


def mapped_label(labels: dict[Any, str], value: object) -> str:
    return _(labels[value]) if value in labels else str(value or "—")


def field_formatter(render: Callable[[Any], str], name: str) -> Callable[[Any, Any], str]:
    """A column formatter showing `render(getattr(row, name))`."""
    return lambda row, _attribute: render(getattr(row, name))


def not_found() -> HTTPException:
    """Another level's object, or none at all: the same answer, so nothing is revealed."""
    return HTTPException(status_code=404, detail=_("Не найдено."))


async def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return await ctx_of(request).templates.TemplateResponse(
        request, template, context, status_code=status_code
    )


class ScopedView(ModelView):
    """A read-only model view whose rows are limited to the request's classes.

    `scope` adds that limit to a statement; each view says how its rows reach a class: `class_column`
    holds a class id, or `student_column` a student id (the student's current class counts).
    What opening the view and editing its rows are in the access policy's terms: `requires` and
    `edit_requires` (None: not editable), asked by `admin.auth`.
    """

    requires: ClassVar[Action] = Action.USE_ADMIN
    edit_requires: ClassVar[Action | None] = None
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    can_import = False
    page_size = 50
    class_column: ClassVar[Any] = None
    student_column: ClassVar[Any] = None

    def scope(self, stmt: Select, request: Request) -> Select:
        class_ids = class_ids_of(request)
        if class_ids is None:
            return stmt
        if self.class_column is not None:
            return stmt.where(col(self.class_column).in_(class_ids))
        if self.student_column is not None:
            return stmt.where(col(self.student_column).in_(students_of(class_ids)))
        raise NotImplementedError(f"{type(self).__name__} says nothing of its scope")

    # Moments are shown in the school's zone, Russian style; a view may add the seconds.
    moment_format: ClassVar[str] = "%d.%m.%Y %H:%M"

    def show_date(self, request: Request | None, value: Any, formatted: Any) -> Any:
        """A date or moment as people here read it; anything else as SQLAdmin (or a formatter) made it."""
        if isinstance(value, datetime) and request is not None:
            return value.astimezone(ctx_of(request).settings.tz).strftime(self.moment_format)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.strftime("%d.%m.%Y")
        return formatted

    async def get_list_value(self, obj: Any, prop: str, request: Request | None = None) -> tuple[Any, Any]:
        value, formatted = await super().get_list_value(obj, prop, request)
        return value, formatted if prop in self._list_formatters else self.show_date(
            request, value, formatted
        )

    async def get_detail_value(self, obj: Any, prop: str, request: Request | None = None) -> tuple[Any, Any]:
        value, formatted = await super().get_detail_value(obj, prop, request)
        if prop in self._detail_formatters:
            return value, formatted
        return value, self.show_date(request, value, formatted)

    # Whether a page of this list shows children's records: then each child on it gets a row in the log.
    audits_children_shown: ClassVar[bool] = True

    async def list(self, request: Request) -> Any:
        token = LIST_TZ.set(ctx_of(request).settings.tz)  # «the last 7 days» count from the school's today
        try:
            pagination = await super().list(request)
        finally:
            LIST_TZ.reset(token)
        if self.audits_children_shown:
            shown = {
                row.id if isinstance(row, Student) else getattr(row, "student_id", None)
                for row in pagination.rows
            }
            async with ctx_of(request).session_factory() as session:
                await audit.record_viewed(
                    session,
                    action=f"{self.identity}_list_viewed",
                    actor_account_id=principal_of(request).account_id,
                    student_ids=sorted(s for s in shown if s is not None),
                    object_type=self.identity,
                    channel=AuditChannel.WEB,
                )
        return pagination

    def list_query(self, request: Request) -> Select:
        return self.scope(select(self.model), request)

    def count_query(self, request: Request) -> Select:
        return self.scope(select(func.count(self.pk_columns[0])).select_from(self.model), request)

    def details_query(self, request: Request) -> Select:
        return self.scope(self._by_pk(super().details_query, request), request)

    def form_edit_query(self, request: Request) -> Select:
        return self.scope(self._by_pk(super().form_edit_query, request), request)

    @staticmethod
    def _by_pk(query: Callable[[Request], Select], request: Request) -> Select:
        # SQLAdmin converts the id in the address to the column's type and lets a ValueError out (a 500),
        # and a number too long for the database fails in the query (a 500 too).
        if not is_record_id(request.path_params.get("pk")):
            raise not_found()
        try:
            return query(request)
        except ValueError as error:
            raise not_found() from error

    async def list_context(self, request: Request) -> dict[str, Any]:
        await self.load_labels(request)
        await self._audit(request, f"{self.identity}_list_viewed")
        return await super().list_context(request)

    async def details_context(self, request: Request) -> dict[str, Any]:
        await self.load_labels(request)
        await self._audit(request, f"{self.identity}_viewed", request.path_params["pk"])
        return await super().details_context(request)

    async def edit_context(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":  # the form shows the record; a save is audited as the change itself
            await self._audit(request, f"{self.identity}_viewed", request.path_params["pk"], "edit form")
        return await super().edit_context(request)

    async def check_can_view_details(self, request: Request, model: Any) -> bool:
        if model is None:  # none, or outside the request's classes: the same 404, but a refusal is kept
            await self._audit(
                request, f"{self.identity}_view_denied", request.path_params["pk"], allowed=False
            )
            raise not_found()
        return await super().check_can_view_details(request, model)

    async def _audit(
        self,
        request: Request,
        action: str,
        pk: str | None = None,
        details: str | None = None,
        *,
        allowed: bool = True,
    ) -> None:
        """Every page of records is a view of children's data: logged with whose, when it is one child's."""
        async with ctx_of(request).session_factory() as session:
            row = await session.get(self.model, int(pk)) if is_record_id(pk) else None
            if not allowed and row is None:
                return  # a made-up id is nobody's: nothing to keep in anyone's register
            student_id = row.id if isinstance(row, Student) else getattr(row, "student_id", None)
            await audit.record(
                session,
                action=action,
                channel=AuditChannel.WEB,
                actor_account_id=principal_of(request).account_id,
                student_id=student_id,
                object_type=self.identity,
                object_id=pk,
                allowed=allowed,
                details=details,
            )
            await session.commit()

    # Whether the formatters show students' names: then the names of the request's students are loaded.
    shows_students: ClassVar[bool] = False

    async def load_labels(self, request: Request) -> None:
        """Names the formatters show (class labels, students), loaded once per page into request.state."""
        async with ctx_of(request).session_factory() as session:
            classes = (await session.exec(select(SchoolClass))).all()
            request.state.class_labels = {c.id: c.label for c in classes}
            if self.shows_students:
                query = select(Student)
                class_ids = class_ids_of(request)
                if class_ids is not None:
                    query = query.where(col(Student.class_id).in_(class_ids))
                request.state.students = {
                    s.id: (s.short_name, s.class_id) for s in (await session.exec(query)).all()
                }


def students_of(class_ids: frozenset[int]) -> Select:
    return select(Student.id).where(col(Student.class_id).in_(class_ids))


def student_name_of(request: Request, student_id: int | None) -> str:
    name, class_id = getattr(request.state, "students", {}).get(student_id, ("—", None))
    return f"{name}, {class_label_of(request, class_id)}" if class_id else name


def class_label_of(request: Request, class_id: int | None) -> str:
    return getattr(request.state, "class_labels", {}).get(class_id, "—")


def media_file(media_dir: Path, relative: str | None) -> Path | None:
    """A stored file under MEDIA_DIR, or None when there is none (or the path would leave MEDIA_DIR)."""
    if not relative:
        return None
    root = media_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
