"""The weekly digest: what happened in a staff member's classes during one ISO week, sent exactly once.

- **Period**: an ISO week («2026-W49»), Monday 00:00 to the next Monday 00:00 in the school's zone.
- **Recipients and scopes**: every account holding an active administrator, deputy or class-teacher role
  gets ONE digest per period (the delivery row is unique per period and account) covering every class the
  access policy lets them view (`access.visible_classes`): an administrator the whole school, a deputy
  their level(s), a class teacher their class(es); a deputy who also leads a class of another level gets
  both in one digest. Narrower scopes are merged into the widest rather than sent as several digests:
  the same children would otherwise be counted twice in a person's chat.
- **Content**: `bot/services/digest_content.py` (`load_week`, `digest_of`, `digest_text`); the PDF:
  `bot/reports/digest_pdf.py`.
- **Exactly once**: `run_digest` claims a `DigestDelivery` row per (period, recipient) with
  INSERT … ON CONFLICT DO NOTHING and queues the message with its PDF in the same transaction; a second
  run, a restart or a concurrent run queues nothing for a recipient already claimed. Delivery itself is
  the outbox's (rate limits, flood waits, blocked users marked unreachable); the notification's dedup
  key is `digest:<period>:<account id>`. `sent_at` records when the digest was handed to the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import tempfile
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from aiogram.utils.i18n import I18n
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.i18n_text import _, in_language
from bot.long_lived import frozen_for_fork
from bot.reports.digest_pdf import build_digest_pdf
from bot.reports.pdf import read_fonts
from bot.services import audit, outbox
from bot.services.access import all_classes, visible_classes
from bot.services.digest_content import Digest, digest_of, digest_text, load_week
from bot.services.outbox import NotificationPayload
from bot.services.principal import load_principals
from models import Account, AuditEvent, DigestDelivery, SchoolClass, StaffAssignment
from models.db import SessionFactory
from models.enums import AuditChannel, SchoolLevel, StaffRole

log = logging.getLogger(__name__)

NOTIFICATION_KIND = "digest"
DIGESTS_DIR = "digests"  # under MEDIA_DIR: the outbox sends documents from there
# A dry run's audit rows name the previews' scope («preview=5А»): retention finds the files naming a child.
PREVIEW_DETAILS = "preview="
DIGEST_ROLES = (StaffRole.ADMIN, StaffRole.DEPUTY, StaffRole.CLASS_TEACHER)
_SCOPE_KEY_LENGTH = 32  # DigestDelivery.scope


# -- periods ---------------------------------------------------------------------------------------------

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Period:
    """An ISO week. Raises ValueError for a week the year doesn't have (W53 of most years)."""

    year: int
    week: int

    def __post_init__(self) -> None:
        date.fromisocalendar(self.year, self.week, 1)

    @classmethod
    def containing(cls, moment: datetime, tz: tzinfo) -> Period:
        """The week `moment` (aware) falls in, in the school's zone."""
        year, week, _day = moment.astimezone(tz).date().isocalendar()
        return cls(year, week)

    @property
    def key(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    def start(self, tz: tzinfo) -> datetime:
        return datetime.combine(self.first_day, time(), tz)

    def end(self, tz: tzinfo) -> datetime:
        """The next Monday's midnight: the period is [start, end)."""
        return datetime.combine(self.first_day + timedelta(days=7), time(), tz)

    def previous(self) -> Period:
        year, week, _day = (self.first_day - timedelta(days=7)).isocalendar()
        return Period(year, week)

    @property
    def dates_label(self) -> str:
        return f"{self.first_day:%d.%m.%Y} – {self.last_day:%d.%m.%Y}"

    def __str__(self) -> str:
        return self.key


def parse_period(text: str, now: datetime, tz: tzinfo) -> Period:
    """«last-week», «this-week» (relative to `now` in the school's zone) or «YYYY-Www»."""
    value = text.strip().lower()
    if value == "this-week":
        return Period.containing(now, tz)
    if value == "last-week":
        return Period.containing(now, tz).previous()
    match = _WEEK.match(value)
    if match is None:
        raise ValueError(f"not a period: {text!r} (last-week, this-week or YYYY-Www)")
    return Period(int(match[1]), int(match[2]))


# -- scopes ----------------------------------------------------------------------------------------------

_LEVEL_NAMES = {
    SchoolLevel.NOO: "НОО",
    SchoolLevel.OOO: "ООО",
    SchoolLevel.SOO: "СОО",
}


@dataclass(frozen=True)
class Scope:
    """The classes one digest covers, in school order."""

    whole_school: bool
    levels: frozenset[SchoolLevel]
    classes: tuple[SchoolClass, ...]

    @property
    def own_classes(self) -> list[SchoolClass]:
        """Classes in the scope by a class-teacher role rather than a whole level."""
        if self.whole_school:
            return []
        return [c for c in self.classes if c.level not in self.levels]

    @property
    def key(self) -> str:
        """«school», «level:ooo», «class:12», «level:noo+soo;class:12»: identifies the digest's content
        (DigestDelivery.scope stores its beginning, which may be the same for different scopes)."""
        if self.whole_school:
            return "school"
        parts = []
        if self.levels:
            parts.append("level:" + "+".join(level.value for level in SchoolLevel if level in self.levels))
        if own := self.own_classes:
            parts.append("class:" + "+".join(str(c.id) for c in own))
        return ";".join(parts)

    @property
    def slug(self) -> str:
        """For the PDF's file name, which the recipient sees: «school», «ooo», «5А», «noo_10Б»."""
        if self.whole_school:
            return "school"
        levels = [level.value for level in SchoolLevel if level in self.levels]
        return "_".join([*levels, *(c.label for c in self.own_classes)])

    def title(self) -> str:
        """«Вся школа», «Уровень ООО», «Класс 5А», «Уровень НОО, класс 10Б» in the current language."""
        if self.whole_school:
            return _("Вся школа")
        return _scope_words(self.levels, [c.label for c in self.own_classes])


def _scope_words(levels: frozenset[SchoolLevel], own: list[str]) -> str:
    parts = []
    if levels:
        names = ", ".join(_LEVEL_NAMES[level] for level in SchoolLevel if level in levels)
        parts.append(_("Уровень {levels}").format(levels=names))
    if len(own) == 1:
        parts.append(_("класс {label}").format(label=own[0]))
    elif own:
        parts.append(_("классы {labels}").format(labels=", ".join(own)))
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def scope_title_of_key(key: str, class_labels: Mapping[int, str]) -> str:
    """A stored `DigestDelivery.scope` (a `Scope.key`, maybe cut short) in the words of `Scope.title`;
    a key it can't read, as it is."""
    if key == "school":
        return _("Вся школа")
    levels: set[SchoolLevel] = set()
    own: list[str] = []
    known_levels = {level.value: level for level in SchoolLevel}
    for part in key.split(";"):
        kind, _sep, values = part.partition(":")
        if kind == "level":
            levels |= {known_levels[v] for v in values.split("+") if v in known_levels}
        elif kind == "class":
            own += [class_labels.get(int(v), "?") for v in values.split("+") if v.isdigit()]
        else:
            return key
    return _scope_words(frozenset(levels), own) or key


@dataclass(frozen=True)
class Recipient:
    account: Account
    scope: Scope


async def recipients(session: AsyncSession, as_of: datetime) -> list[Recipient]:
    """Everyone with a digest role held since `as_of` at the latest, in account order, with their scope.

    A role given after `as_of` (the moment the digest fell due) doesn't bring that week's digest: a
    catch-up after downtime goes to those who should have had it then, not to newcomers.
    """
    accounts = (
        await session.exec(
            select(Account)
            .join(StaffAssignment, col(StaffAssignment.account_id) == col(Account.id))
            .where(
                col(StaffAssignment.active).is_(True),
                col(StaffAssignment.role).in_(DIGEST_ROLES),
                col(StaffAssignment.created_at) <= as_of,
            )
            .distinct()
            .order_by(col(Account.id))
        )
    ).all()
    classes = await all_classes(session)
    principals = await load_principals(session, [account.id for account in accounts if account.id])
    found = []
    for account in accounts:
        principal = principals[account.id]  # type: ignore[index]
        if visible := visible_classes(principal, classes):
            scope = Scope(principal.is_admin, principal.deputy_levels, tuple(visible))
            found.append(Recipient(account, scope))
    return found


# -- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestRun:
    period: Period
    queued: int  # recipients whose digest was claimed and queued by this run
    skipped: int  # recipients who had this period's digest already
    pdfs: list[Path]  # written by this run


def pdf_path(period: Period, scope: Scope, language: str, *, preview: bool = False) -> str:
    """Relative to MEDIA_DIR: «digests/2026-W49/ru/digest-2026-W49-5А.pdf»; a dry run's preview goes to
    «digests/2026-W49/preview/ru/…», so that it never replaces the file a digest was sent with."""
    folder = f"{DIGESTS_DIR}/{period.key}/preview" if preview else f"{DIGESTS_DIR}/{period.key}"
    return f"{folder}/{language}/digest-{period.key}-{scope.slug}.pdf"


def _write_atomically(path: Path, data: bytes) -> None:
    """The outbox may be sending an earlier version of the same file: never show it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # «.tmp-»: what backups skip as not a file yet (bot/services/backup.py), as evidence files do.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(descriptor, "wb") as f:
        f.write(data)
    os.replace(temporary, path)


async def _claim(
    session: AsyncSession, period: Period, recipient: Recipient, pdf: str, now: datetime
) -> bool:
    """The delivery row for (period, recipient), unless it exists already (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.exec(
        insert(DigestDelivery)
        .values(
            period=period.key,
            account_id=recipient.account.id,
            scope=recipient.scope.key[:_SCOPE_KEY_LENGTH],
            pdf_path=pdf,
            created_at=now,
            sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=["period", "account_id"])
    )
    return result.rowcount == 1


async def run_digest(
    session_factory: SessionFactory,
    settings: Settings,
    period: Period,
    now: datetime,
    *,
    i18n: I18n,
    as_of: datetime | None = None,
    dry_run: bool = False,
    channel: AuditChannel = AuditChannel.SYSTEM,
) -> DigestRun:
    """Build and queue `period`'s digest for every recipient who hasn't had it; commits once.

    `now` (aware) dates the digest and the pending ages; recipients are those holding their role at
    `as_of` (default `now`). Each recipient's texts and PDF are in their language (plural forms come from
    `i18n`'s catalogs, so it is needed outside a handler too: `bot.app.create_i18n(settings)`). A dry run
    writes the PDFs of every recipient's scope and claims, queues and records nothing but the audit
    of the export.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    async with session_factory() as session:
        everyone = await recipients(session, as_of or now)
        delivered: set[int | None] = set()
        if not dry_run:
            delivered = set(
                (
                    await session.exec(
                        select(DigestDelivery.account_id).where(DigestDelivery.period == period.key)
                    )
                ).all()
            )
        due = [recipient for recipient in everyone if recipient.account.id not in delivered]
        prepared = await _prepare(session, settings, period, now, due, i18n, preview=dry_run)
    # Everything is built before anything is written, so the write transaction is short; and it is a
    # new one (SQLite can't turn a read snapshot that others have written past into a write).
    queued = 0
    async with session_factory() as session:
        if dry_run:  # the files hold children's data: an export
            for digest in {item.digest.scope.key: item.digest for item in prepared}.values():
                details = PREVIEW_DETAILS + digest.scope.slug  # the file's name, in every language
                await _audit(session, digest, "digest_exported", channel, None, details)
        else:
            for item in prepared:
                account_id = item.recipient.account.id
                if not await _claim(session, period, item.recipient, item.pdf_path, now):
                    continue  # a concurrent run got there first
                await outbox.enqueue(
                    session,
                    account_id,  # type: ignore[arg-type]
                    NOTIFICATION_KIND,
                    NotificationPayload(text=item.text, document_paths=[item.pdf_path]),
                    dedup_key=f"digest:{period.key}:{account_id}",
                )
                await _audit(session, item.digest, "digest_sent", channel, account_id)
                queued += 1
        await session.commit()
    if queued:
        log.info("digest %s queued for %d recipients", period.key, queued)
    written = sorted({settings.media_dir / item.pdf_path for item in prepared})
    return DigestRun(period, queued, len(everyone) - len(due), written)


@dataclass(frozen=True)
class _Prepared:
    recipient: Recipient
    digest: Digest
    pdf_path: str  # relative to MEDIA_DIR
    text: str


async def _prepare(
    session: AsyncSession,
    settings: Settings,
    period: Period,
    now: datetime,
    due: list[Recipient],
    i18n: I18n,
    *,
    preview: bool,
) -> list[_Prepared]:
    """Each recipient's digest, message and PDF (written), in their language; one PDF per scope and
    language."""
    # One read of the week for every class anybody oversees; each scope's digest is cut from it.
    records = await load_week(session, [c for r in due for c in r.scope.classes], period, settings.tz)
    digests: dict[str, Digest] = {}
    pdfs: dict[str, tuple[Digest, str]] = {}  # path relative to MEDIA_DIR -> its digest and language
    prepared = []
    for recipient in due:
        scope = recipient.scope
        if scope.key not in digests:
            digests[scope.key] = digest_of(records, scope, period, now, settings.tz)
        digest = digests[scope.key]
        language = recipient.account.language
        if language not in i18n.available_locales:
            language = i18n.default_locale
        relative = pdf_path(period, scope, language, preview=preview)
        pdfs.setdefault(relative, (digest, language))
        with in_language(language, i18n):
            prepared.append(_Prepared(recipient, digest, relative, digest_text(digest)))
    await _write_pdfs(settings, pdfs, i18n)
    return prepared


async def _write_pdfs(settings: Settings, pdfs: dict[str, tuple[Digest, str]], i18n: I18n) -> None:
    """Build and write the PDFs. A whole school's take seconds of CPU: they are built in worker
    processes, one per core, so that every core works and the event loop keeps answering users."""
    if not pdfs:
        return
    loop = asyncio.get_running_loop()
    workers = min(len(pdfs), os.cpu_count() or 1)
    read_fonts()  # once, here: every worker inherits them
    with (
        frozen_for_fork(),
        ProcessPoolExecutor(
            workers, mp_context=_WORKER_START, initializer=_start_pdf_worker, initargs=(i18n,)
        ) as pool,
    ):
        built = await asyncio.gather(
            *(
                loop.run_in_executor(pool, _digest_pdf, settings.school_name, digest, language)
                for digest, language in pdfs.values()
            )
        )
    for relative, pdf in zip(pdfs, built, strict=True):
        _write_atomically(settings.media_dir / relative, pdf)


# Workers are forked where the system can (Linux): they start at once with everything imported. They
# only draw PDFs: no database connection, socket or event loop of the parent is used in them.
_WORKER_START = (
    multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
)
_worker_i18n: I18n | None = None  # the catalogs, in a worker


def _start_pdf_worker(i18n: I18n) -> None:
    global _worker_i18n
    _worker_i18n = i18n


def _digest_pdf(school_name: str, digest: Digest, language: str) -> bytes:
    """In a worker: the digest's PDF in `language`."""
    with in_language(language, _worker_i18n):
        return build_digest_pdf(school_name, digest)


async def record_downloaded(
    session: AsyncSession, delivery: DigestDelivery, actor_account_id: int | None, channel: AuditChannel
) -> None:
    """A digest's PDF as it was sent, opened again (the admin's «Еженедельные сводки»); committed here.

    It shows the same children's data as when it was sent: one `digest_downloaded` row per child named
    in it — those whose `digest_sent` rows name that week and recipient (the PDF is not read back) — and
    one row for the digest itself, as an export."""
    named = await session.exec(
        select(AuditEvent.student_id)
        .where(
            AuditEvent.action == "digest_sent",
            AuditEvent.object_type == "digest",
            AuditEvent.object_id == delivery.period,
            AuditEvent.actor_account_id == delivery.account_id,
            col(AuditEvent.student_id).is_not(None),
        )
        .distinct()
    )
    for student_id in sorted(s for s in named.all() if s is not None):
        await audit.record(
            session,
            action="digest_downloaded",
            channel=channel,
            actor_account_id=actor_account_id,
            student_id=student_id,
            object_type="digest",
            object_id=delivery.id,
        )
    await audit.record(
        session,
        action="digest_downloaded",
        channel=channel,
        actor_account_id=actor_account_id,
        object_type="digest",
        object_id=delivery.id,
    )
    await session.commit()


async def _audit(
    session: AsyncSession,
    digest: Digest,
    action: str,
    channel: AuditChannel,
    recipient_id: int | None,
    details: str | None = None,
) -> None:
    """One audit row per child named in the digest: it shows their data to the recipient (or a file)."""
    for student_id in sorted(digest.student_ids):
        await audit.record(
            session,
            action=action,
            channel=channel,
            actor_account_id=recipient_id,
            student_id=student_id,
            object_type="digest",
            object_id=digest.period.key,
            details=details,
        )
