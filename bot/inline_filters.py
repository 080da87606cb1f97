"""Check plain (non-async) filters in the event loop instead of a thread.

aiogram runs every filter that is not a coroutine function in `asyncio.to_thread`: each `F.text == …`,
each `State` given as a filter, is a round trip through the thread pool, and an update is checked
against every handler before the one that takes it (`make bench`: 26–36 trips for «Портфолио» or
«Помощь», about 0.1 ms each plus the wait for a free worker under load). Filters are plain comparisons
of the update; there is nothing for a thread to do. Handlers are left as aiogram runs them.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def check_filters_inline(root: Router) -> int:
    """Make every plain filter of `root` and its sub-routers run in the loop; how many were changed."""
    changed = 0
    for router in root.chain_tail:
        for observer in router.observers.values():
            for handler in (observer._handler, *observer.handlers):
                for event_filter in handler.filters or ():
                    changed += _run_inline(event_filter)
    return changed


def _run_inline(event_filter: FilterObject) -> int:
    if event_filter.awaitable:
        return 0
    check = event_filter.callback

    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    # The parameters aiogram passes were read from the filter itself when it was registered.
    event_filter.callback = inline
    event_filter.awaitable = True
    return 1
