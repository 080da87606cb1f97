"""Exports (administrators for the school, deputies for their level): a register for a period as XLSX or
CSV, made by the same service as `python -m bot export` — it asks the access policy and audits (web)."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import quote

from sqladmin import BaseView, expose
from starlette.requests import Request
from starlette.responses import Response

from admin.context import ctx_of, principal_of
from admin.views.base import LEVEL_LABELS, render
from bot.i18n_text import _
from bot.reports.spreadsheet import to_csv, to_xlsx
from bot.services import access
from bot.services.access import Action
from bot.services.exports import ExportDenied, ExportKind, Period, export_sheet
from bot.services.portfolio import academic_year, academic_year_bounds
from models.enums import AuditChannel

KIND_LABELS = {
    ExportKind.GIFTED: "Банк одарённых детей: победы и призовые места регионального уровня и выше",
    ExportKind.ACHIEVEMENTS: "Достижения за период, в любом статусе",
    ExportKind.REQUESTS: "Журнал запросов выписок",
    ExportKind.REWARDS: "Поощрения за период",
}
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


class ExportsPage(BaseView):
    name = "Выгрузки"
    icon = "fa-solid fa-file-excel"
    category = "Учёт"
    identity = "exports"
    requires = Action.EXPORT

    @expose("/exports", methods=["GET"], identity="exports")
    async def page(self, request: Request) -> Response:
        return await self._page(request, {})

    @expose("/exports/download", methods=["POST"], identity="exports_download")
    async def download(self, request: Request) -> Response:
        ctx = ctx_of(request)
        form = await request.form()
        try:
            kind = ExportKind(str(form.get("kind") or ""))
            period = Period(date.fromisoformat(str(form["first"])), date.fromisoformat(str(form["last"])))
            file_format = str(form.get("format") or "xlsx")
            media_type = FORMATS[file_format]
        except (KeyError, ValueError):
            return await self._page(
                request, {"error": _("Выберите выгрузку и период: дата начала не позже даты конца.")}, 400
            )
        principal = principal_of(request)
        async with ctx.session_factory() as session:
            try:
                sheet = await export_sheet(
                    session,
                    kind,
                    period,
                    principal=principal,
                    levels=access.levels_in_scope(principal),
                    channel=AuditChannel.WEB,
                    tz=ctx.settings.tz,
                )
            except ExportDenied:
                return await self._page(request, {"error": _("Эта выгрузка вам недоступна.")}, 403)
        data = to_csv(sheet) if file_format == "csv" else to_xlsx(sheet)
        name = f"{kind}-{period.first.isoformat()}-{period.last.isoformat()}.{file_format}"
        title = f"{sheet.title} {period.first:%d.%m.%Y}–{period.last:%d.%m.%Y}.{file_format}"
        return Response(
            data,
            media_type=media_type,
            headers={
                "content-disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(title)}",
                "cache-control": "no-store",
            },
        )

    async def _page(self, request: Request, context: dict[str, object], status_code: int = 200) -> Response:
        today = datetime.now(ctx_of(request).settings.tz).date()
        first, _last = academic_year_bounds(academic_year(today))
        levels = access.levels_in_scope(principal_of(request))
        return await render(
            request,
            "admin/exports.html",
            {
                "title": _("Выгрузки"),
                "kinds": [(kind.value, _(text)) for kind, text in KIND_LABELS.items()],
                "first": first.isoformat(),
                "last": today.isoformat(),
                "scope": _("вся школа")
                if levels is None
                else ", ".join(_(LEVEL_LABELS[level]) for level in sorted(levels)),
                **context,
            },
            status_code,
        )
