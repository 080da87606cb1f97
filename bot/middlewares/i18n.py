"""The user's language: the one chosen with /lang (stored on the account), else the school's default."""

from __future__ import annotations

from typing import Any

from aiogram.types import TelegramObject
from aiogram.utils.i18n import I18nMiddleware

from models import Account


class AccountI18nMiddleware(I18nMiddleware):
    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        account: Account | None = data.get("account")
        if account is not None and account.language in self.i18n.available_locales:
            return account.language
        return self.i18n.default_locale
