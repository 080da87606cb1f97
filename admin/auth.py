"""Who is signed in (SQLAdmin's authentication backend) and what they may open (its authorization backend).

Both only ask the bot's access policy (`bot/services/access.py`): the admin is for administrators and
deputies (`may_use_admin`); each view names the policy's `Action` that opening it is (`requires`) and that
editing its rows through SQLAdmin's form is (`edit_requires`, None: nobody edits), and
`access.may_do_in_admin` answers. Row-level scoping is done by the views' queries with
`class_ids_of(request)` (`access.class_ids_in_scope`).
"""

from __future__ import annotations

from typing import Any

from sqladmin.application import BaseAdmin
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


def may_open(principal: Principal, view: object, action: str) -> bool:
    """SQLAdmin's `action` on `view`, as the access policy's action the view names: looking (a list, a
    record, a custom page) is its `requires`, SQLAdmin's edit form its `edit_requires`; creating,
    deleting, importing and exporting through SQLAdmin's own forms is nobody's. A view that names no
    action is nobody's to open."""
    if action in (AdminAction.LIST, AdminAction.DETAILS):
        needed = getattr(view, "requires", None)
    elif action == AdminAction.EDIT:
        needed = getattr(view, "edit_requires", None)
    else:
        needed = None
    return needed is not None and access.may_do_in_admin(principal, needed)


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
            class_ids = await access.class_ids_in_scope(session, principal)
        request.state.principal = principal
        request.state.account_name = account.name if account else ""
        request.state.class_ids = class_ids
        return True

    async def get_user_id(self, request: Request) -> Any:
        return principal_of(request).account_id


class PolicyAuthorization(AuthorizationBackend):
    """Finds the view SQLAdmin asks about by its identity and asks `may_open`; an unknown one is refused."""

    def __init__(self) -> None:
        self._admin: BaseAdmin | None = None
        self._views: dict[str, object] = {}

    def setup(self, admin: BaseAdmin) -> None:
        self._admin = admin

    def _view(self, identity: str) -> object | None:
        views = self._admin.views if self._admin is not None else []
        if len(self._views) != len(views):  # views are added after setup, before the first request
            self._views = {view.identity: view for view in views}
        return self._views.get(identity)

    def has_permission(self, request: Request, identity: str, action: str, obj: Any | None = None) -> bool:
        view = self._view(identity)
        return view is not None and may_open(principal_of(request), view, action)
