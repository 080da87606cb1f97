"""The web admin application: `create_app(settings, engine)` is its one composition root.

    app = create_app(settings, engine, bot_username="school_bot")   # a Starlette app, admin at /admin

`python -m admin` serves it alone; `bot.runner` serves it beside the bot in the same event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from aiogram.utils.i18n import I18n
from sqladmin import Admin
from sqladmin.authentication import login_required
from sqladmin.i18n import I18nConfig
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from admin.audit import WebAuditBackend
from admin.auth import LinkAuthentication, PolicyAuthorization
from admin.context import AdminContext, admin_session_of, class_ids_of, ctx_of, principal_of
from admin.dashboard import dashboard
from admin.middleware import AdminSessionMiddleware, CSRFMiddleware, SecurityHeadersMiddleware
from admin.signin import sign_in
from admin.views.base import render
from admin.views.exports import ExportsPage
from admin.views.invites import InvitesPage
from admin.views.logs import AuditView, DigestView
from admin.views.moderation import ModerationPage
from admin.views.records import AchievementView, ResultsRequestView, RewardView
from admin.views.roster import RosterPage
from admin.views.school import ClassView, StudentView
from admin.views.staff import StaffView
from admin.views.verify import VerifyPage
from bot.config import Settings
from bot.i18n_text import _
from bot.services import access
from models.base import utcnow
from models.db import create_session_factory

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
VIEWS = (
    ModerationPage,
    ClassView,
    StudentView,
    StaffView,
    AchievementView,
    RewardView,
    ResultsRequestView,
    VerifyPage,
    ExportsPage,
    DigestView,
    AuditView,
    RosterPage,
    InvitesPage,
)


class SchoolAdmin(Admin):
    """SQLAdmin with our sign-in (a link from the bot) and the dashboard as its index page."""

    async def login(self, request: Request) -> Response:
        if request.method != "GET":  # there is no password form to post: our error page, as for any 405
            response = await render(request, "sqladmin/error.html", {"status_code": 405}, status_code=405)
            response.headers["allow"] = "GET"
            return response
        return await sign_in(request)

    async def logout(self, request: Request) -> Response:
        if admin_session_of(request) is None:
            return RedirectResponse(request.url_for("admin:login"), status_code=302)
        # SQLAdmin signs out by a GET link; a link on another site must not end the session
        # (browsers say where a request comes from; one that doesn't is let through).
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return RedirectResponse(request.url_for("admin:index"), status_code=302)
        return await self.authentication_backend.logout(request)

    @login_required
    async def index(self, request: Request) -> Response:
        ctx = ctx_of(request)
        async with ctx.session_factory() as session:
            classes = await access.classes_in_scope(session, principal_of(request))
            ids = class_ids_of(request)
            data = await dashboard(
                session, [c for c in classes if ids is None or c.id in ids], utcnow(), ctx.settings.tz
            )
        return await render(
            request, "admin/dashboard.html", {"data": data, "account_name": request.state.account_name}
        )


async def server_error(request: Request, exc: Exception) -> Response:
    """A failure nobody foresaw: the server logs it; the person gets a plain page in Russian, not
    Starlette's «Internal Server Error» (no template: rendering may be what failed)."""
    page = (
        "<!DOCTYPE html><html lang='ru'><meta charset='utf-8'><title>{title}</title>"
        "<h1>{title}</h1><p>{text}</p><p><a href='/admin/'>{home}</a></p></html>"
    ).format(
        title=escape(_("Что-то пошло не так")),
        text=escape(
            _(
                "Ошибка на сервере. Вернитесь назад и попробуйте ещё раз; если повторится, сообщите администратору."
            )
        ),
        home=escape(_("На главную")),
    )
    return HTMLResponse(page, status_code=500)


def csrf_token(request: Request) -> str:
    admin_session = admin_session_of(request)
    return admin_session.csrf_token if admin_session is not None else ""


def create_app(
    settings: Settings,
    engine: AsyncEngine,
    *,
    bot_username: str | None = None,
    i18n: I18n | None = None,
    on_queued: Callable[[], None] | None = None,
) -> Starlette:
    """The admin as an ASGI app; the schema must be migrated.

    `bot_username` makes invite links; `i18n` (the bot's catalogs) lets notifications queued here speak
    each recipient's language; `on_queued` wakes the bot's outbox sender when both run in one process.
    """
    ctx = AdminContext(
        settings=settings,
        session_factory=create_session_factory(engine),
        bot_username=bot_username,
        i18n=i18n,
        on_queued=on_queued,
    )
    app = Starlette(
        exception_handlers={500: server_error},
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(AdminSessionMiddleware, ctx=ctx),
            Middleware(CSRFMiddleware),
        ],
    )
    admin = SchoolAdmin(
        app,
        session_maker=async_sessionmaker(engine, expire_on_commit=False),
        base_url="/admin",
        title=settings.school_name,
        templates_dir=str(TEMPLATES_DIR),
        authentication_backend=LinkAuthentication(),
        authorization_backend=PolicyAuthorization(),
        audit_backend=WebAuditBackend(ctx.session_factory),
        i18n_config=I18nConfig(default_locale="ru", language_cookie_name=None, language_header_name=None),
    )
    admin.admin.add_exception_handler(500, server_error)  # SQLAdmin's own app answers its failures
    admin.templates.env.globals["csrf_token"] = csrf_token
    ctx.templates = admin.templates
    for view in VIEWS:
        admin.add_view(view)

    async def root(request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=302)

    app.add_route("/", root)
    return app
