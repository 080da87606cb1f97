"""What lives as long as the process, kept out of the garbage collector's way.

The collector's full pass walks every object the process has; a bot that imported aiogram, SQLAlchemy,
pydantic and built its routers has about a million, and each full pass under load took 36–260 ms
(`make bench`), the update that triggered it waiting that long. Frozen after start-up, they are left
alone and a full pass walks only what came since.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def freeze_long_lived() -> None:
    """Collect what is garbage now, then freeze everything left (the start-up's objects)."""
    gc.collect()
    gc.freeze()


@contextmanager
def frozen_for_fork() -> Iterator[None]:
    """Everything frozen while forked workers start: their collector then leaves the inherited objects
    alone, and the system need not copy every page into each worker. Afterwards, as before."""
    was_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_frozen:
            freeze_long_lived()
