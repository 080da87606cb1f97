"""Invites (administrators): a class's invite sheet as PDF, and one-time links for new staff."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from sqladmin import BaseView, expose
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response

from admin.context import ctx_of, principal_of
from admin.views.base import LEVEL_LABELS, ROLE_LABELS, not_found, render
from bot.i18n_text import _
from bot.reports.invite_sheet import build_invite_sheet
from bot.services.access import Action
from bot.services.invites import (
    MAX_GUARDIAN_CODES_PER_STUDENT,
    InviteError,
    create_staff_invite,
    deep_link,
    issue_class_sheet_invites,
    last_valid_day,
)
from models import SchoolClass
from models.enums import AuditChannel, SchoolLevel, StaffRole


class InvitesPage(BaseView):
    name = "Приглашения"
    icon = "fa-solid fa-qrcode"
    category = "Школа"
    identity = "invites"
    requires = Action.MANAGE_ROSTER

    @expose("/invites", methods=["GET"], identity="invites")
    async def page(self, request: Request) -> Response:
        return await self._page(request, {})

    @expose("/invites/class/{class_id:id}", methods=["POST"], identity="invites_class")
    async def class_sheet(self, request: Request) -> Response:
        ctx = ctx_of(request)
        if not ctx.bot_username:
            return await self._page(request, {"error": _("Имя бота неизвестно: ссылки сделать нельзя.")}, 503)
        try:
            guardians = int(str((await request.form()).get("guardians") or "1"))
        except ValueError:
            guardians = 0
        async with ctx.session_factory() as session:
            school_class = await session.get(SchoolClass, request.path_params["class_id"])
            if school_class is None:
                raise not_found()
            label = school_class.label
            try:
                entries = await issue_class_sheet_invites(
                    session,
                    request.path_params["class_id"],
                    ctx.settings.invite_ttl,
                    principal_of(request).account_id,
                    guardian_codes_per_student=guardians,
                    channel=AuditChannel.WEB,
                )
            except InviteError as error:
                return await self._page(request, {"error": str(error)}, 400)
        if not entries:
            return await self._page(
                request, {"error": _("В классе {label} нет учащихся.").format(label=label)}, 400
            )
        pdf = build_invite_sheet(
            ctx.settings.school_name,
            label,
            entries,
            ctx.bot_username,
            datetime.now(ctx.settings.tz).date(),
            last_valid_day(entries[0].expires_at, ctx.settings.tz),
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "content-disposition": f"attachment; filename=\"invites.pdf\"; filename*=UTF-8''{quote(f'invites-{label}.pdf')}",
                "cache-control": "no-store",
            },
        )

    @expose("/invites/staff", methods=["POST"], identity="invites_staff")
    async def staff_link(self, request: Request) -> Response:
        ctx = ctx_of(request)
        if not ctx.bot_username:
            return await self._page(request, {"error": _("Имя бота неизвестно: ссылки сделать нельзя.")}, 503)
        form = await request.form()
        try:
            role = StaffRole(str(form.get("role") or ""))
            level = SchoolLevel(str(form["level"])) if role == StaffRole.DEPUTY else None
            class_id = int(str(form["class_id"])) if role == StaffRole.CLASS_TEACHER else None
        except (KeyError, ValueError):
            return await self._page(request, {"error": _("Выберите роль, а для неё уровень или класс.")}, 400)
        async with ctx.session_factory() as session:
            try:
                issued = await create_staff_invite(
                    session,
                    role,
                    level,
                    class_id,
                    ctx.settings.invite_ttl,
                    principal_of(request).account_id,
                    channel=AuditChannel.WEB,
                )
            except InviteError as error:
                return await self._page(request, {"error": str(error)}, 400)
        response = await self._page(
            request,
            {
                "staff_link": deep_link(ctx.bot_username, issued.code),
                "staff_role": _(ROLE_LABELS[role]),
                "valid_until": last_valid_day(issued.invite.expires_at, ctx.settings.tz).strftime("%d.%m.%Y"),
            },
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def _page(self, request: Request, context: dict[str, object], status_code: int = 200) -> Response:
        async with ctx_of(request).session_factory() as session:
            classes = (
                await session.exec(select(SchoolClass).order_by(SchoolClass.grade, SchoolClass.letter))
            ).all()
        return await render(
            request,
            "admin/invites.html",
            {
                "title": _("Приглашения"),
                "classes": classes,
                "max_guardians": MAX_GUARDIAN_CODES_PER_STUDENT,
                "roles": [(r.value, _(ROLE_LABELS[r])) for r in StaffRole],
                "levels": [(v.value, _(LEVEL_LABELS[v])) for v in SchoolLevel],
                **context,
            },
            status_code,
        )
