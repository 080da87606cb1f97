"""Signing in to the web admin without passwords: a one-time link from the bot opens a server-side session.

A link token and a session id are 32 random bytes; only their SHA-256 is stored, so a copy of the
database opens nothing. A link is valid for 10 minutes and spent by a conditional UPDATE, so it opens
exactly one session even when two tabs race. A session ends after 30 idle minutes, 8 hours after
sign-in, or on sign-out (the row is deleted).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit
from models import AdminLoginToken, AdminSession
from models.enums import AuditChannel

LINK_TTL = timedelta(minutes=10)
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
LOGIN_PATH = "/admin/login"


class LinkProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class NewSession:
    session_id: str  # for the cookie only; not stored
    account_id: int
    csrf_token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def login_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{LOGIN_PATH}?token={token}"


async def issue_link(session: AsyncSession, account_id: int, now: datetime) -> str:
    """A new one-time sign-in token for `account_id` (who may use the admin: checked by the caller); commits."""
    token = secrets.token_urlsafe(32)
    session.add(
        AdminLoginToken(
            token_hash=_hash(token), account_id=account_id, created_at=now, expires_at=now + LINK_TTL
        )
    )
    await audit.record(
        session, action="admin_link_issued", channel=AuditChannel.BOT, actor_account_id=account_id
    )
    await session.commit()
    return token


async def redeem_link(session: AsyncSession, token: str, now: datetime) -> int | LinkProblem:
    """Spend a sign-in token: the account id it was issued to, or why it can't be used; commits."""
    token_hash = _hash(token)
    spent = await session.exec(
        update(AdminLoginToken)
        .where(
            AdminLoginToken.token_hash == token_hash,
            col(AdminLoginToken.used_at).is_(None),
            AdminLoginToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = (
        await session.exec(select(AdminLoginToken).where(AdminLoginToken.token_hash == token_hash))
    ).first()
    if row is None:
        await session.rollback()
        return LinkProblem.UNKNOWN
    # Read before a rollback expires the row.
    account_id, used = row.account_id, row.used_at is not None
    if spent.rowcount != 1:
        await session.rollback()
        return LinkProblem.USED if used else LinkProblem.EXPIRED
    await session.commit()
    return account_id


async def start_session(session: AsyncSession, account_id: int, now: datetime) -> NewSession:
    """A fresh session (new id, new CSRF token) for an account that just signed in; audited; commits."""
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            session_hash=_hash(session_id),
            account_id=account_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
        )
    )
    await audit.record(
        session, action="admin_signed_in", channel=AuditChannel.WEB, actor_account_id=account_id
    )
    await session.commit()
    return NewSession(session_id, account_id, csrf_token)


def is_alive(admin_session: AdminSession, now: datetime) -> bool:
    return (
        now - admin_session.last_seen_at < IDLE_TIMEOUT and now - admin_session.created_at < ABSOLUTE_TIMEOUT
    )


async def find_session(session: AsyncSession, session_id: str, now: datetime) -> AdminSession | None:
    """The live session with this id, its idle clock restarted; an expired one is deleted. Commits."""
    row = (
        await session.exec(select(AdminSession).where(AdminSession.session_hash == _hash(session_id)))
    ).first()
    if row is None:
        return None
    if not is_alive(row, now):
        await session.delete(row)
        await session.commit()
        return None
    row.last_seen_at = now
    session.add(row)
    await session.commit()
    return row


async def end_session(session: AsyncSession, session_id: str) -> None:
    """Sign-out: the session row is deleted, so the cookie is worthless even if kept; commits."""
    row = (
        await session.exec(select(AdminSession).where(AdminSession.session_hash == _hash(session_id)))
    ).first()
    if row is None:
        return
    await session.exec(delete(AdminSession).where(col(AdminSession.id) == row.id))
    await audit.record(
        session, action="admin_signed_out", channel=AuditChannel.WEB, actor_account_id=row.account_id
    )
    await session.commit()
