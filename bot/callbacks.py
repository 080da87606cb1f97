"""Callback data factories: short prefixes and ids only; everything is reloaded and checked on press."""

from aiogram.filters.callback_data import CallbackData


class ConsentCb(CallbackData, prefix="cs"):
    accept: bool


class LanguageCb(CallbackData, prefix="lg"):
    code: str
