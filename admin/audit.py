"""SQLAdmin's audit backend, writing into our audit log (channel web)."""

from __future__ import annotations

from sqladmin.audit import AuditBackend, AuditEntry
from starlette.requests import Request

from admin.context import principal_of
from bot.services import audit
from models.db import SessionFactory
from models.enums import AuditChannel


class WebAuditBackend(AuditBackend):
    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory

    async def log(self, entry: AuditEntry, request: Request) -> None:
        # Field names only: the values are a child's personal data and the record keeps them anyway.
        changed = ", ".join(sorted(entry.changes or {}))
        async with self.session_factory() as session:
            await audit.record(
                session,
                action=f"{entry.identity}_{entry.action}d",  # student_updated, …
                channel=AuditChannel.WEB,
                actor_account_id=principal_of(request).account_id,
                student_id=int(entry.pk) if entry.identity == "student" and entry.pk else None,
                object_type=entry.identity,
                object_id=entry.pk,
                details=f"fields: {changed}" if changed else None,
            )
            await session.commit()
