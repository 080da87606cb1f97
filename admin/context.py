"""What every admin request needs, put into the ASGI scope by the session middleware."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from aiogram.utils.i18n import I18n
from starlette.requests import HTTPConnection

from bot.config import Settings
from bot.services.principal import ANONYMOUS, Principal
from models import AdminSession
from models.db import SessionFactory

CTX_KEY = "portfolio.ctx"
SESSION_KEY = "portfolio.session"
SESSION_ID_KEY = "portfolio.session_id"


@dataclass
class AdminContext:
    settings: Settings
    session_factory: SessionFactory
    # The bot's @username for invite links; None when it couldn't be learned (the invite pages say so).
    bot_username: str | None = None
    # Roster files between their preview and «Применить»: token → (session id, file name, bytes).
    roster_uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    templates: Any = None  # SQLAdmin's Jinja environment, set once the Admin exists
    # The bot's catalogs, so that notifications queued from the admin speak each recipient's language.
    i18n: I18n | None = None
    # Wakes the outbox sender when the bot runs in the same process; otherwise it finds the queue by polling.
    on_queued: Callable[[], None] | None = None

    @property
    def secure_cookies(self) -> bool:
        return self.settings.admin_public_url.startswith("https://")


# The school's zone while a list is being built: SQLAdmin's list filters get no request to ask.
LIST_TZ: ContextVar[tzinfo] = ContextVar("portfolio_admin_list_tz", default=UTC)


def school_today() -> date:
    """Today in the school's zone (for the list filters' periods)."""
    return datetime.now(LIST_TZ.get()).date()


def ctx_of(conn: HTTPConnection) -> AdminContext:
    return conn.scope[CTX_KEY]


def admin_session_of(conn: HTTPConnection) -> AdminSession | None:
    return conn.scope.get(SESSION_KEY)


def principal_of(conn: HTTPConnection) -> Principal:
    """Who is signed in, as loaded by the authentication backend for this request."""
    return getattr(conn.state, "principal", ANONYMOUS)


def class_ids_of(conn: HTTPConnection) -> frozenset[int] | None:
    """The classes whose data this request may show: None means every class (an administrator)."""
    return getattr(conn.state, "class_ids", frozenset())
