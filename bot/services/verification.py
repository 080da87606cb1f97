"""Verification codes printed on extracts (regulation 6.4): staff check them with `/verify CODE`.

A code is base32(request id in 5 bytes + the first 10 bytes of HMAC-SHA256(secret, what was issued)),
24 characters read in groups of four: «ABCD-EFGH-…». What is signed is the request as registered before
the PDF is drawn — its id, number, student, time of issue, scope and how many achievements and rewards
the extract lists — so the code can be printed on the extract it signs. The QR code beside it is a link to
the bot (`verification_link`): a phone's camera opens Telegram, which sends «/start verify_CODE». A changed character, a code
made with another secret, or a changed request row never verifies: the MAC is recomputed from the
stored request and compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from models import ResultsRequest

ID_BYTES = 5
MAC_BYTES = 10
CODE_LENGTH = (ID_BYTES + MAC_BYTES) * 8 // 5  # 24 base32 characters, no padding
GROUP = 4
QR_PREFIX = "verify:"  # what the QR codes of earlier extracts hold: still accepted
START_PREFIX = "verify_"  # a deep link's payload: «/start verify_CODE» (base32 and «_» are allowed there)
_NOT_BASE32 = re.compile(r"[^A-Z2-7]")
# Characters people type for the ones base32 lacks.
_LOOKALIKES = str.maketrans({"0": "O", "1": "I"})


class Signable(Protocol):
    id: int | None
    number: str
    student_id: int
    scope: str
    created_at: datetime
    achievements_count: int
    rewards_count: int


R = TypeVar("R", bound=Signable)


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _mac(secret: str | bytes, request: Signable) -> bytes:
    issued = int(request.created_at.astimezone(UTC).timestamp())
    message = (
        f"extract:v1:{request.id}:{request.number}:{request.student_id}:{issued}:{request.scope}:"
        f"{request.achievements_count}:{request.rewards_count}"
    )
    return hmac.new(_key(secret), message.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def format_code(raw: str) -> str:
    """«ABCDEFGH…» → «ABCD-EFGH-…» for reading and typing."""
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


def make_code(secret: str | bytes, request: Signable) -> str:
    """The verification code of `request` (already flushed: it needs the id), grouped for reading."""
    if request.id is None or request.id < 0 or request.id >= 256**ID_BYTES:
        raise ValueError("the request needs a database id")
    payload = request.id.to_bytes(ID_BYTES, "big") + _mac(secret, request)
    return format_code(base64.b32encode(payload).decode("ascii"))


def normalize_code(text: str) -> str:
    """What a person typed or a QR code held (the link included), as the bare 24 characters (may still be
    invalid)."""
    text = text.strip()
    _link, found, payload = text.partition("start=")
    if found:
        text = payload
    for prefix in (QR_PREFIX, START_PREFIX):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    return _NOT_BASE32.sub("", text.upper().translate(_LOOKALIKES))


def is_start_payload(payload: str) -> bool:
    """Whether a /start payload is a verification link's rather than an invite code."""
    return payload.lower().startswith(START_PREFIX)


def verification_link(bot_username: str, code: str) -> str:
    """«https://t.me/BOT?start=verify_CODE»: what the extract's QR code holds."""
    return f"https://t.me/{bot_username}?start={START_PREFIX}{normalize_code(code)}"


def parse_code(text: str) -> tuple[int, bytes] | None:
    """(request id, MAC) of a well-formed code, else None."""
    raw = normalize_code(text)
    if len(raw) != CODE_LENGTH:
        return None
    try:
        payload = base64.b32decode(raw)
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(payload[:ID_BYTES], "big"), payload[ID_BYTES:]


def check_code(secret: str | bytes, code: str, lookup: Callable[[int], R | None]) -> R | None:
    """The request `code` was issued for, or None for an unknown, altered or forged code.

    `lookup(request_id)` loads the request as stored (or None).
    """
    parsed = parse_code(code)
    if parsed is None:
        return None
    request_id, mac = parsed
    request = lookup(request_id)
    if request is None or request.id != request_id:
        return None
    return request if hmac.compare_digest(_mac(secret, request), mac) else None


async def find_request(session: AsyncSession, secret: str | bytes, code: str) -> ResultsRequest | None:
    """`check_code` against the database; also requires the code to be the one stored on the request."""
    parsed = parse_code(code)
    if parsed is None:
        return None
    request = await session.get(ResultsRequest, parsed[0])
    verified = check_code(secret, code, lambda _id: request)
    if verified is None or verified.verification_code is None:
        return None
    stored = normalize_code(verified.verification_code)
    return verified if hmac.compare_digest(stored, normalize_code(code)) else None
