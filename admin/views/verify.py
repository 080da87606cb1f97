"""«Проверка выписки»: staff check an extract's verification code as with `/verify` in the bot — the same
service (`results_requests.check_extract_code`: checked, audited), the same answer in words."""

from __future__ import annotations

from sqladmin import BaseView, expose
from starlette.requests import Request
from starlette.responses import Response

from admin.context import ctx_of, principal_of
from admin.views.base import render
from bot.i18n_text import _
from bot.services import results_requests
from bot.services.access import Action
from bot.services.verification import format_code, normalize_code
from models.enums import AuditChannel

# A code is 24 characters (29 with dashes); a pasted QR link is longer. Anything longer is no code.
MAX_INPUT = 200


class VerifyPage(BaseView):
    name = "Проверка выписки"
    icon = "fa-solid fa-stamp"
    category = "Учёт"
    identity = "verify"
    requires = Action.VERIFY

    @expose("/verify", methods=["GET"], identity="verify")
    async def form(self, request: Request) -> Response:
        return await self._page(request, {})

    @expose("/verify", methods=["POST"], identity="verify_check")
    async def check(self, request: Request) -> Response:
        ctx = ctx_of(request)
        typed = str((await request.form()).get("code") or "").strip()[:MAX_INPUT]
        if not normalize_code(typed):
            return await self._page(request, {"error": _("Введите код с выписки.")}, 400)
        async with ctx.session_factory() as session:
            found = await results_requests.check_extract_code(
                session,
                ctx.settings.secret_key,
                typed,
                actor_account_id=principal_of(request).account_id,
                channel=AuditChannel.WEB,
            )
        return await self._page(
            request,
            {
                "code": format_code(normalize_code(typed)),
                "verified": found is not None,
                "answer": results_requests.verification_answer(found, ctx.settings.tz),
            },
        )

    async def _page(self, request: Request, context: dict[str, object], status_code: int = 200) -> Response:
        return await render(
            request, "admin/verify.html", {"title": _("Проверка выписки"), **context}, status_code
        )
