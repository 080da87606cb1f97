"""The sign-in link's landing page, and the pages for a link that can't be used or a person the admin
isn't for."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.context import ctx_of
from admin.middleware import cookie_header
from admin.views.base import render
from bot.i18n_text import _
from bot.services import access, admin_auth
from bot.services.admin_auth import LinkProblem
from bot.services.principal import load_principal
from models import Account
from models.base import utcnow


async def message_page(request: Request, heading: str, text: str, status_code: int) -> Response:
    return await render(request, "admin/message.html", {"heading": heading, "text": text}, status_code)


async def not_for_you(request: Request) -> Response:
    return await message_page(
        request,
        _("Нет доступа"),
        _("Веб-админка — для заместителей директора и администрации школы."),
        403,
    )


_PROBLEMS = {
    LinkProblem.USED: (
        _("Ссылка уже использована"),
        _(
            "Эта ссылка для входа одноразовая, и по ней уже вошли. Отправьте боту /admin, чтобы получить новую."
        ),
        410,
    ),
    LinkProblem.EXPIRED: (
        _("Ссылка устарела"),
        _("Ссылка для входа действует 10 минут. Отправьте боту /admin, чтобы получить новую."),
        410,
    ),
    LinkProblem.UNKNOWN: (
        _("Ссылка не подходит"),
        _("Такой ссылки для входа нет — возможно, она скопирована не полностью. Отправьте боту /admin."),
        404,
    ),
}


async def sign_in(request: Request) -> Response:
    """GET /admin/login?token=…: spend the link and open a new session; without a token, say how to get one."""
    token = request.query_params.get("token")
    if not token:
        return await message_page(
            request,
            _("Вход в веб-админку"),
            _("Войти можно по одноразовой ссылке из бота: отправьте боту команду /admin."),
            200,
        )
    ctx = ctx_of(request)
    now = utcnow()
    async with ctx.session_factory() as session:
        redeemed = await admin_auth.redeem_link(session, token, now)
        if isinstance(redeemed, LinkProblem):
            heading, text, status_code = _PROBLEMS[redeemed]
            return await message_page(request, heading, text, status_code)
        principal = await load_principal(session, await session.get(Account, redeemed))
        if not access.may_use_admin(principal):
            return await not_for_you(request)
        # Whatever session this browser had ends: a sign-in always gets a new session id.
        old_session_id = request.scope.get("portfolio.session_id")
        if old_session_id:
            await admin_auth.end_session(session, old_session_id)
        new = await admin_auth.start_session(session, redeemed, now)
    response = RedirectResponse(request.url_for("admin:index"), status_code=302)
    response.headers.append("set-cookie", cookie_header(new.session_id, secure=ctx.secure_cookies))
    return response
