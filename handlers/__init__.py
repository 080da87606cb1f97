"""The bot's routers, in the order they are tried."""

from aiogram import Dispatcher, Router

from handlers import (
    admin_link,
    common,
    consent,
    fallback,
    groups,
    portfolio,
    requests,
    review,
    rewards,
    start,
    submission,
)


def routers() -> list[Router]:
    return [
        groups.router,
        requests.links_router,
        start.router,
        submission.router,
        review.router,
        requests.router,
        rewards.router,
        portfolio.router,
        consent.router,
        admin_link.router,
        common.router,
        fallback.router,
    ]


def detach(dispatcher: Dispatcher) -> None:
    """Free the module-level routers when a dispatcher is thrown away (a restart inside one process).

    aiogram attaches a router to one parent for good and has no public way back.
    """
    for router in dispatcher.sub_routers:
        router._parent_router = None
    dispatcher.sub_routers.clear()
