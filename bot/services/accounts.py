"""Accounts: one row per Telegram user who wrote to the bot in a private chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Account
from models.base import utcnow

# last_seen_at is a hint for the admin, not a log: refreshing it rarely spares a write per update.
LAST_SEEN_RESOLUTION = timedelta(minutes=10)

# Built once: it runs for every update, and building a statement costs more than running this one.
_BY_TELEGRAM_ID = select(Account).where(Account.telegram_id == bindparam("telegram_id"))


@dataclass(frozen=True)
class TelegramProfile:
    """The parts of a Telegram user we keep (their public profile)."""

    telegram_id: int
    first_name: str
    last_name: str = ""
    username: str | None = None


async def touch_account(session: AsyncSession, profile: TelegramProfile, default_language: str) -> Account:
    """Find or create the account of a Telegram user and keep its profile and reachability current."""
    account = (await session.exec(_BY_TELEGRAM_ID, params={"telegram_id": profile.telegram_id})).first()
    if account is None:
        account = Account(telegram_id=profile.telegram_id, language=default_language)
    now = utcnow()
    fresh = {
        "first_name": profile.first_name[:128],
        "last_name": profile.last_name[:128],
        "username": profile.username,
        "reachable": True,  # they just wrote to us
    }
    stale_seen = account.last_seen_at is None or now - account.last_seen_at > LAST_SEEN_RESOLUTION
    if account.id is None or stale_seen or any(getattr(account, k) != v for k, v in fresh.items()):
        for key, value in fresh.items():
            setattr(account, key, value)
        account.last_seen_at = now
        session.add(account)
        await session.commit()
    return account


async def set_language(session: AsyncSession, account: Account, language: str) -> None:
    account.language = language
    session.add(account)
    await session.commit()


async def set_reachable(session: AsyncSession, account: Account, *, reachable: bool) -> None:
    account.reachable = reachable
    session.add(account)
    await session.commit()
