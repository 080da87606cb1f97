"""Who is signed in (SQLAdmin's authentication backend) and what they may open (its authorization backend).

Both answer from the bot's access policy (`bot/services/access.py`): the admin is for administrators
and deputies; administrators see every class, deputies the classes the policy gives them (their level).
Row-level scoping is done by the views' queries with `class_ids_of(request)`.
"""

from __future__ import annotations

from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqladmin.authorization import Action as AdminAction
from sqladmin.authorization import AuthorizationBackend
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.context import admin_session_of, ctx_of, principal_of
from admin.middleware import cookie_header
from admin.signin import not_for_you
from bot.services import access, admin_auth
from bot.services.principal import Principal, load_principal
from models import Account

# Views only administrators open (regulation: roster, staff, invites and the access register).
ADMIN_ONLY = frozenset({"staff-assignment", "roster", "invites", "audit-event"})
# Views whose rows administrators may edit through SQLAdmin's own form.
EDITABLE = frozenset({"student"})


def may_open(principal: Principal, identity: str, action: str) -> bool:
    """The admin's permission table, in terms of the access policy."""
    if not access.may_use_admin(principal):
        return False
    if identity in ADMIN_ONLY and not access.may_manage_roster(principal):
        return False
    if action in (AdminAction.LIST, AdminAction.DETAILS):
        return True
    if action == AdminAction.EDIT:
        return identity in EDITABLE and access.may_manage_roster(principal)
    return False


class LinkAuthentication(AuthenticationBackend):
    """Sessions come from one-time links (see `admin.signin`); there is no password form."""

    def __init__(self) -> None:
        # The session lives on the server (AdminSessionMiddleware); no signed-cookie session is needed.
        self.middlewares = []

    async def login(self, request: Request) -> Response | bool:
        return False

    async def logout(self, request: Request) -> Response | bool:
        ctx = ctx_of(request)
        session_id = request.scope.get("portfolio.session_id")
        if session_id:
            async with ctx.session_factory() as session:
                await admin_auth.end_session(session, session_id)
        response = RedirectResponse(request.url_for("admin:login"), status_code=302)
        response.headers.append("set-cookie", cookie_header("", secure=ctx.secure_cookies, clear=True))
        return response

    async def authenticate(self, request: Request) -> Response | bool:
        admin_session = admin_session_of(request)
        if admin_session is None:
            return False
        async with ctx_of(request).session_factory() as session:
            account = await session.get(Account, admin_session.account_id)
            principal = await load_principal(session, account)
            if not access.may_use_admin(principal):
                return await not_for_you(request)
            classes = await access.classes_in_scope(session, principal)
        request.state.principal = principal
        request.state.account_name = account.name if account else ""
        request.state.class_ids = None if principal.is_admin else frozenset(c.id for c in classes if c.id)
        return True

    async def get_user_id(self, request: Request) -> Any:
        return principal_of(request).account_id


class PolicyAuthorization(AuthorizationBackend):
    def has_permission(self, request: Request, identity: str, action: str, obj: Any | None = None) -> bool:
        return may_open(principal_of(request), identity, action)
