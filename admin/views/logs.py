"""The audit log (administrators, read-only, filtered by student, actor and action) and past digests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqladmin import expose
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from admin.context import ctx_of, principal_of
from admin.views.base import (
    CHANNEL_LABELS,
    OBJECT_LABELS,
    ScopedView,
    mapped_label,
    media_file,
    not_found,
)
from admin.views.filters import AccountFilter, StudentFilter, ValueFilter
from bot.services import access
from bot.services.access import Action
from bot.services.digest import parse_period, record_downloaded, scope_title_of_key
from models import Account, AuditEvent, DigestDelivery
from models.enums import AuditChannel


def _week(key: str) -> str:
    """A digest's ISO week («2026-W49») as its dates; a key that isn't a week, as it is."""
    try:
        period = parse_period(key, datetime.now(UTC), UTC)  # «now» and the zone don't matter for a key
    except ValueError:
        return key
    return period.dates_label


class AuditView(ScopedView, model=AuditEvent):
    name = "Запись журнала"
    name_plural = "Журнал доступа"
    icon = "fa-solid fa-clipboard-list"
    category = "Журналы"
    requires = Action.VIEW_AUDIT_LOG
    page_size = 100
    moment_format = "%d.%m.%Y %H:%M:%S"
    # Children appear here by number only: a look at the log is no look at their data (and isn't logged
    # once per child, which would grow the log each time it is read).
    audits_children_shown = False
    column_list = [
        "at",
        "actor_account_id",
        "action",
        "student_id",
        "object_type",
        "object_id",
        "allowed",
        "channel",
    ]
    column_details_list = [*column_list, "actor_telegram_id", "details"]
    column_labels = {
        "at": "Когда",
        "actor_account_id": "Кто (аккаунт)",
        "actor_telegram_id": "Кто (Telegram ID)",
        "action": "Действие",
        "student_id": "Ученик (№)",
        "object_type": "Объект",
        "object_id": "№ объекта",
        "allowed": "Разрешено",
        "channel": "Канал",
        "details": "Подробности",
    }
    column_default_sort = [("at", True)]
    column_sortable_list = ["at", "action"]
    column_formatters = {
        "actor_account_id": lambda e, _n, request: request.state.actor_names.get(e.actor_account_id, "—"),
        "allowed": lambda e, _n: "да" if e.allowed else "нет",
        "channel": lambda e, _n: mapped_label(CHANNEL_LABELS, e.channel),
        "object_type": lambda e, _n: mapped_label(OBJECT_LABELS, e.object_type) if e.object_type else "—",
    }
    column_formatters_detail = column_formatters
    column_filters = [
        StudentFilter(AuditEvent.student_id),
        AccountFilter(AuditEvent.actor_account_id),
        ValueFilter(AuditEvent.action, "Действие", "action"),
    ]

    def scope(self, stmt: Any, request: Request) -> Any:
        return stmt  # only those who may read the log open it (`requires`): all of it

    async def load_labels(self, request: Request) -> None:
        await super().load_labels(request)
        async with ctx_of(request).session_factory() as session:
            accounts = (await session.exec(select(Account))).all()
        request.state.actor_names = {a.id: f"{a.name} (№ {a.id})" for a in accounts}


class DigestView(ScopedView, model=DigestDelivery):
    """Weekly digests sent, those the access policy lets the person see (`access.may_view_digest`)."""

    name = "Сводка"
    name_plural = "Еженедельные сводки"
    icon = "fa-solid fa-newspaper"
    category = "Журналы"
    details_template = "admin/digest_details.html"
    column_list = ["period", "scope", "account_id", "created_at", "sent_at"]
    column_details_list = column_list
    column_labels = {
        "period": "Неделя",
        "scope": "Охват",
        "account_id": "Кому",
        "created_at": "Составлена",
        "sent_at": "Отправлена",
    }
    column_default_sort = [("period", True)]
    column_formatters = {
        "account_id": lambda d, _n, request: request.state.actor_names.get(d.account_id, "—"),
        "period": lambda d, _n: _week(d.period),
        "scope": lambda d, _n, request: scope_title_of_key(d.scope, request.state.class_labels),
    }
    column_formatters_detail = column_formatters

    def scope(self, stmt: Any, request: Request) -> Any:
        recipients = access.digest_recipients_in_scope(principal_of(request))
        if recipients is None:
            return stmt
        return stmt.where(col(DigestDelivery.account_id).in_(recipients))

    async def load_labels(self, request: Request) -> None:
        await super().load_labels(request)
        async with ctx_of(request).session_factory() as session:
            accounts = (await session.exec(select(Account))).all()
        request.state.actor_names = {a.id: a.name for a in accounts}

    @expose("/{pk:id}/pdf", methods=["GET"])
    async def pdf(self, request: Request) -> Response:
        """The digest's PDF, for whoever may see the digest; audited as an export."""
        principal = principal_of(request)
        ctx = ctx_of(request)
        async with ctx.session_factory() as session:
            delivery = await session.get(DigestDelivery, request.path_params["pk"])
            if delivery is None or not access.may_view_digest(principal, delivery):
                raise not_found()
            path = media_file(ctx.settings.media_dir, delivery.pdf_path)
            if path is None:
                raise not_found()
            # The children named in it, as when it was sent, and the digest itself.
            await record_downloaded(session, delivery, principal.account_id, AuditChannel.WEB)
        return FileResponse(path, media_type="application/pdf", filename=f"digest-{delivery.period}.pdf")
