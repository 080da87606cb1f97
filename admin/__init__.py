"""The web admin: Starlette + SQLAdmin at /admin, signed in by a one-time link from the bot (`create_app`)."""

import bot  # noqa: F401 - first, so aiogram's types are built lazily (bot/lazy_types.py)
