"""The outbox: messages to other people are queued in the caller's transaction and sent later by one
rate-limited sender (`bot/services/sender.py`). A notification exists only if the change it announces
was committed, and a retried action never queues the same notification twice (its dedup key).
"""

from __future__ import annotations

import html
import re

from pydantic import BaseModel, Field, model_validator
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Notification

# Telegram's limits.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_ALBUM = 10
_TAG = re.compile(r"<[^>]*>")


def visible_length(text: str) -> int:
    """Length of HTML text as Telegram counts it: after tags and entities like «&amp;» are parsed."""
    return len(html.unescape(_TAG.sub("", text)))


class NotificationPayload(BaseModel):
    """What to send, stored as JSON in `Notification.payload`.

    Text only; or photos, or documents (one, or an album of 2–10 with `text` as the caption of the first
    item); Telegram can't mix photos and documents in one album. Paths are relative to MEDIA_DIR. An
    album can't carry buttons, so they come in a message of their own right after it, with
    `buttons_text` (or `text`).
    """

    text: str
    photo_paths: list[str] = Field(default_factory=list)
    document_paths: list[str] = Field(default_factory=list)
    buttons: list[list[tuple[str, str]]] = Field(default_factory=list)  # rows of (text, callback_data)
    buttons_text: str | None = None

    @model_validator(mode="after")
    def _within_telegram_limits(self) -> NotificationPayload:
        if self.photo_paths and self.document_paths:
            raise ValueError("photos and documents can't go in one notification")
        if len(self.media_paths) > MAX_ALBUM:
            raise ValueError(f"an album holds at most {MAX_ALBUM} items")
        has_media = bool(self.media_paths)
        if not has_media and not self.text.strip():
            raise ValueError("a text message needs text")
        if visible_length(self.text) > (MAX_CAPTION if has_media else MAX_TEXT):
            raise ValueError("text too long for Telegram")
        if self.buttons_text is not None and visible_length(self.buttons_text) > MAX_TEXT:
            raise ValueError("buttons_text too long for Telegram")
        for row in self.buttons:
            for _text, data in row:
                if not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise ValueError("callback data must be 1–64 bytes")
        return self

    @property
    def media_paths(self) -> list[str]:
        return self.photo_paths or self.document_paths

    @property
    def is_album(self) -> bool:
        return len(self.media_paths) > 1


QUEUED_FLAG = "outbox_queued"


async def enqueue(
    session: AsyncSession,
    account_id: int,
    kind: str,
    payload: NotificationPayload,
    dedup_key: str,
    *,
    student_id: int | None = None,
) -> None:
    """Queue a notification in the caller's transaction (no commit). A known `dedup_key` is ignored.

    `student_id` names the student the message is about (consent withdrawal and retention find it so).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING rather than a check first: two concurrent producers with the same key
    # must not fail either transaction.
    statement = (
        insert(Notification)
        .values(
            account_id=account_id,
            student_id=student_id,
            kind=kind,
            dedup_key=dedup_key,
            payload=payload.model_dump_json(),
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    await session.exec(statement)
    # Read after the commit by whoever runs the sender, to wake it at once instead of at its next poll.
    session.info[QUEUED_FLAG] = True
