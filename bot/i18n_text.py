"""gettext for code that also runs outside a handler (CLI, PDF builders, services).

Our message ids are the Russian texts themselves (the Russian catalog is the identity), so when no
aiogram I18n context is set — the CLI, a scheduled job — the message id is already the right text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n.context import get_i18n


def _(text: str) -> str:
    """The translation of `text` for the current locale, or `text` itself outside an I18n context."""
    try:
        return get_i18n().gettext(text)
    except LookupError:
        return text


@contextmanager
def in_language(language: str, i18n: I18n | None = None) -> Iterator[None]:
    """Texts for someone else, in their language (a notification), whatever language is current.

    Inside a handler the current I18n is used; a scheduled job passes its own `i18n`. An unknown
    language means the school's default.
    """
    i18n = i18n or I18n.get_current(no_error=True)
    if i18n is None:
        yield
        return
    locale = language if language in i18n.available_locales else i18n.default_locale
    with i18n.context(), i18n.use_locale(locale):
        yield
