"""«Портфолио»: the bot, its services and its command line."""

from bot.lazy_types import import_aiogram

# Before anything imports aiogram: its Telegram types are then built when first used (bot/lazy_types.py).
import_aiogram()
