"""gettext for code that also runs outside a handler (CLI, PDF builders, services).

Our message ids are the Russian texts themselves (the Russian catalog is the identity), so when no
aiogram I18n context is set — the CLI, a scheduled job — the message id is already the right text.
"""

from __future__ import annotations

from aiogram.utils.i18n.context import get_i18n


def _(text: str) -> str:
    """The translation of `text` for the current locale, or `text` itself outside an I18n context."""
    try:
        return get_i18n().gettext(text)
    except LookupError:
        return text
