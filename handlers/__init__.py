"""The bot's routers, in the order they are tried."""

from aiogram import Router

from handlers import common, fallback, groups, start


def routers() -> list[Router]:
    return [groups.router, start.router, common.router, fallback.router]
