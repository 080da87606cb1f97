"""Roster import (administrators): upload a CSV/XLSX, see what would be added, updated or rejected, apply."""

from __future__ import annotations

import secrets

from sqladmin import BaseView, expose
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from admin.context import ctx_of, principal_of
from admin.views.base import render
from bot.i18n_text import _
from bot.services.access import Action
from bot.services.roster import RosterFormatError, import_roster, parse_roster
from models.enums import AuditChannel

# Uploads kept between preview and apply, per process; older ones are dropped first.
MAX_KEPT_UPLOADS = 20


class RosterPage(BaseView):
    name = "Загрузка списка учащихся"
    icon = "fa-solid fa-file-import"
    category = "Школа"
    identity = "roster"
    requires = Action.MANAGE_ROSTER

    @expose("/roster", methods=["GET"], identity="roster")
    async def form(self, request: Request) -> Response:
        return await self._page(request, {})

    @expose("/roster/preview", methods=["POST"], identity="roster_preview")
    async def preview(self, request: Request) -> Response:
        ctx = ctx_of(request)
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await self._page(request, {"error": _("Выберите файл CSV или XLSX.")}, 400)
        data = await upload.read()
        try:
            parsed = parse_roster(data, upload.filename)
        except RosterFormatError as error:
            return await self._page(request, {"error": str(error) or _("Файл не читается как список.")}, 400)
        async with ctx.session_factory() as session:
            report = await import_roster(session, parsed, dry_run=True, channel=AuditChannel.WEB)
        token = secrets.token_urlsafe(16)
        while len(ctx.roster_uploads) >= MAX_KEPT_UPLOADS:
            ctx.roster_uploads.pop(next(iter(ctx.roster_uploads)))
        ctx.roster_uploads[token] = (request.scope["portfolio.session_id"], upload.filename, data)
        return await self._page(
            request, {"report": report, "upload_token": token, "filename": upload.filename}
        )

    @expose("/roster/apply", methods=["POST"], identity="roster_apply")
    async def apply(self, request: Request) -> Response:
        ctx = ctx_of(request)
        token = str((await request.form()).get("upload_token") or "")
        kept = ctx.roster_uploads.get(token)
        if kept is None or kept[0] != request.scope["portfolio.session_id"]:
            return await self._page(request, {"error": _("Файл не найден: загрузите его ещё раз.")}, 400)
        del ctx.roster_uploads[token]
        _session_id, filename, data = kept
        async with ctx.session_factory() as session:
            report = await import_roster(
                session,
                data,
                filename=filename,
                channel=AuditChannel.WEB,
                actor_account_id=principal_of(request).account_id,
            )
        return await self._page(request, {"report": report, "applied": True})

    async def _page(self, request: Request, context: dict[str, object], status_code: int = 200) -> Response:
        return await render(
            request, "admin/roster.html", {"title": _("Загрузка списка учащихся"), **context}, status_code
        )
