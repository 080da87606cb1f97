"""Serving the admin with uvicorn: alone (`python -m admin`) or as a task beside the bot (`serving`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp

from bot.config import Settings

log = logging.getLogger(__name__)


def server_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    # proxy_headers: behind a TLS reverse proxy the scheme and client address come from X-Forwarded-*.
    return uvicorn.Config(
        app,
        host=settings.admin_host,
        port=settings.admin_port,
        lifespan="off",
        access_log=False,  # URLs carry sign-in tokens and ids of children: no access log
        proxy_headers=True,
        log_level="warning",
    )


class EmbeddedServer(uvicorn.Server):
    """uvicorn in an event loop whose owner handles the signals and says when to stop (`should_exit`): the
    bot's (`serving`), or `python -m admin`'s. uvicorn's own handlers would re-raise the signal once it has
    shut down, ending the process before its owner closed anything."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    @property
    def port(self) -> int:
        """The port actually listened on (ADMIN_PORT=0 picks a free one, as tests do)."""
        return self.servers[0].sockets[0].getsockname()[1]


async def _serve(server: EmbeddedServer) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits when it can't bind the port; the bot goes on without the admin
        log.error("the web admin could not start on port %s", server.config.port)


@contextlib.asynccontextmanager
async def serving(settings: Settings, app: ASGIApp) -> AsyncIterator[EmbeddedServer]:
    """The admin served in the current event loop until the block ends, then shut down cleanly.

    The block starts once the server listens (or has given up: then `server.started` is False).
    """
    server = EmbeddedServer(server_config(settings, app))
    task = asyncio.create_task(_serve(server), name="admin")
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait((task, ready), return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    try:
        yield server
    finally:
        server.should_exit = True
        await task
