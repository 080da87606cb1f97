"""The moderation queue: pending achievements of the classes one reviews, with the evidence shown inline;
approve, reject with a reason, or correct — through the same services (and notifications) as the bot.

Every action reloads the achievement, its student and the student's current class and asks the access
policy (`may_review`); another level's achievement is «not found», exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqladmin import BaseView, expose
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from admin.context import AdminContext, class_ids_of, ctx_of, principal_of
from admin.views.base import enum_label, media_file, not_found, render
from bot.i18n_text import _
from bot.services import access, audit, submissions
from bot.services.access import Action
from bot.services.outbox import QUEUED_FLAG
from bot.services.submissions import Decision, InvalidInput
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category, RejectReason, label
from models import Account, Achievement, EvidenceFile, SchoolClass, Student
from models.enums import AchievementStatus, AuditChannel, Source

# What a redirect back to the queue may say: fixed keys, never text from the request.
NOTICES = {
    "approved": "Достижение одобрено, отправитель получит уведомление.",
    "rejected": "Достижение отклонено, отправитель получит уведомление с причиной.",
    "corrected": "Исправления сохранены.",
    "unchanged": "Ничего не изменилось.",
    "late": "Уже рассмотрено кем-то другим.",
    "reason": "Чтобы отклонить, укажите причину.",
    "invalid": "Неверное значение: проверьте поля исправления.",
}


@dataclass(frozen=True)
class QueueItem:
    achievement: Achievement
    student: Student
    school_class: SchoolClass
    submitter: str
    files: list[EvidenceFile]

    @property
    def category(self) -> str:
        return enum_label(Category, self.achievement.category)

    @property
    def level(self) -> str:
        return enum_label(AchievementLevel, self.achievement.level)

    @property
    def result(self) -> str:
        return enum_label(AchievementResult, self.achievement.result)

    @property
    def source(self) -> str:
        return enum_label(Source, self.achievement.source)


async def _queue(session: AsyncSession, request: Request) -> list[QueueItem]:
    principal = principal_of(request)
    query = (
        select(Achievement, Student, SchoolClass)
        .join(Student, col(Student.id) == col(Achievement.student_id))
        .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
        .where(Achievement.status == AchievementStatus.PENDING)
        .order_by(col(Achievement.created_at))
    )
    class_ids = class_ids_of(request)
    if class_ids is not None:
        query = query.where(col(Student.class_id).in_(class_ids))
    rows = [r for r in (await session.exec(query)).all() if access.may_review(principal, r[1], r[2])]
    ids = [a.id for a, _s, _c in rows]
    files: dict[int, list[EvidenceFile]] = {}
    for f in (
        await session.exec(
            select(EvidenceFile)
            .where(col(EvidenceFile.achievement_id).in_(ids))
            .order_by(EvidenceFile.position)
        )
    ).all():
        files.setdefault(f.achievement_id, []).append(f)
    submitter_ids = {a.submitted_by_account_id for a, _s, _c in rows if a.submitted_by_account_id}
    names = {
        a.id: a.name
        for a in (await session.exec(select(Account).where(col(Account.id).in_(submitter_ids)))).all()
    }
    return [
        QueueItem(a, s, c, names.get(a.submitted_by_account_id or 0, "—"), files.get(a.id or 0, []))
        for a, s, c in rows
    ]


async def _denied(
    session: AsyncSession, request: Request, action: str, achievement: Achievement, details: str
) -> HTTPException:
    """An attempt on another level's child, kept in their register (as the bot does); then «not found»."""
    await audit.record(
        session,
        action=action,
        channel=AuditChannel.WEB,
        actor_account_id=principal_of(request).account_id,
        student_id=achievement.student_id,
        object_type="achievement",
        object_id=achievement.id,
        allowed=False,
        details=details,
    )
    await session.commit()
    return not_found()


async def _reviewable(
    session: AsyncSession, request: Request, achievement_id: int, action: str
) -> Achievement:
    """The achievement if the signed-in person may review it now, else 404 (a refusal is audited)."""
    row = (
        await session.exec(
            select(Achievement, Student, SchoolClass)
            .join(Student, col(Student.id) == col(Achievement.student_id))
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(col(Achievement.id) == achievement_id)
        )
    ).first()
    if row is None:
        raise not_found()
    if not access.may_review(principal_of(request), row[1], row[2]):
        raise await _denied(session, request, "achievement_review_denied", row[0], f"action={action}")
    return row[0]


@contextmanager
def _school_language(ctx: AdminContext) -> Iterator[None]:
    """The bot's I18n context, so that texts for others are made in each recipient's language."""
    if ctx.i18n is None:
        yield
        return
    with ctx.i18n.context(), ctx.i18n.use_locale(ctx.i18n.default_locale):
        yield


def _back(request: Request, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{request.url_for('admin:view-moderation')}?notice={notice}", status_code=303)


def _after_commit(ctx: AdminContext, session: AsyncSession) -> None:
    if session.info.pop(QUEUED_FLAG, False) and ctx.on_queued is not None:
        ctx.on_queued()


class ModerationPage(BaseView):
    name = "Очередь проверки"
    icon = "fa-solid fa-inbox"
    identity = "moderation"
    requires = Action.USE_ADMIN

    @expose("/moderation", methods=["GET"], identity="moderation")
    async def queue(self, request: Request) -> Response:
        async with ctx_of(request).session_factory() as session:
            items = await _queue(session, request)
            # As in the bot: every child listed in the queue is a view of that child's data.
            for item in items:
                await audit.record(
                    session,
                    action="review_queue_viewed",
                    channel=AuditChannel.WEB,
                    actor_account_id=principal_of(request).account_id,
                    student_id=item.student.id,
                    object_type="achievement",
                    object_id=item.achievement.id,
                )
            await session.commit()
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return await render(
            request,
            "admin/moderation.html",
            {
                "title": _("Очередь проверки"),
                "items": items,
                "notice": _(notice) if notice else None,
                "reasons": [(r.value, label(r)) for r in RejectReason],
                "categories": [(c.value, label(c)) for c in Category],
                "levels": [(v.value, label(v)) for v in AchievementLevel],
                "results": [(v.value, label(v)) for v in AchievementResult],
            },
        )

    @expose("/moderation/{achievement_id:id}/approve", methods=["POST"], identity="moderation_approve")
    async def approve(self, request: Request) -> Response:
        return await self._decide(request, Decision.APPROVE, None)

    @expose("/moderation/{achievement_id:id}/reject", methods=["POST"], identity="moderation_reject")
    async def reject(self, request: Request) -> Response:
        form = await request.form()
        reason = str(form.get("reason_text") or "").strip() or str(form.get("reason") or "")
        if reason == RejectReason.OTHER:
            reason = ""
        return await self._decide(request, Decision.REJECT, reason)

    async def _decide(self, request: Request, decision: Decision, reason: str | None) -> Response:
        ctx = ctx_of(request)
        principal = principal_of(request)
        achievement_id = request.path_params["achievement_id"]
        async with ctx.session_factory() as session:
            await _reviewable(session, request, achievement_id, decision.value)
            try:
                with _school_language(ctx):
                    outcome = await submissions.decide(
                        session,
                        achievement_id,
                        principal.account_id,
                        decision,
                        reason,
                        datetime.now(ctx.settings.tz),
                        channel=AuditChannel.WEB,
                    )
            except InvalidInput:
                return _back(request, "reason")
            _after_commit(ctx, session)
        if not outcome.applied:
            return _back(request, "late")
        return _back(request, "approved" if decision == Decision.APPROVE else "rejected")

    @expose("/moderation/{achievement_id:id}/correct", methods=["POST"], identity="moderation_correct")
    async def correct(self, request: Request) -> Response:
        ctx = ctx_of(request)
        form = await request.form()
        achievement_id = request.path_params["achievement_id"]
        async with ctx.session_factory() as session:
            achievement = await _reviewable(session, request, achievement_id, "correct")
            changes: dict[str, Any] = {}
            for name in ("category", "level", "result", "title"):
                value = str(form.get(name) or "").strip()
                if value and value != getattr(achievement, name):
                    changes[name] = value
            typed_date = str(form.get("event_date") or "").strip()
            try:
                if typed_date and date.fromisoformat(typed_date) != achievement.event_date:
                    changes["event_date"] = date.fromisoformat(typed_date)
                if not changes:
                    return _back(request, "unchanged")
                outcome = await submissions.correct(
                    session,
                    achievement_id,
                    principal_of(request).account_id,
                    changes,
                    datetime.now(ctx.settings.tz),
                    channel=AuditChannel.WEB,
                )
            except (InvalidInput, ValueError):
                return _back(request, "invalid")
        return _back(request, "corrected" if outcome.applied else "late")

    @expose("/evidence/{file_id:id}", methods=["GET"], identity="evidence")
    async def evidence(self, request: Request) -> Response:
        """One evidence file, to whoever may see its achievement (as in the bot); audited."""
        ctx = ctx_of(request)
        principal = principal_of(request)
        async with ctx.session_factory() as session:
            row = (
                await session.exec(
                    select(EvidenceFile, Achievement, Student, SchoolClass)
                    .join(Achievement, col(Achievement.id) == col(EvidenceFile.achievement_id))
                    .join(Student, col(Student.id) == col(Achievement.student_id))
                    .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
                    .where(col(EvidenceFile.id) == request.path_params["file_id"])
                )
            ).first()
            if row is None:
                raise not_found()
            evidence, achievement, student, school_class = row
            class_ids = class_ids_of(request)
            if (
                class_ids is not None and school_class.id not in class_ids
            ) or not access.may_view_achievement(principal, achievement, student, school_class):
                raise await _denied(
                    session, request, "evidence_view_denied", achievement, f"file={evidence.id}"
                )
            path = media_file(ctx.settings.media_dir, evidence.path)
            if path is None:
                raise not_found()
            await audit.record(
                session,
                action="evidence_viewed",
                channel=AuditChannel.WEB,
                actor_account_id=principal.account_id,
                student_id=student.id,
                object_type="achievement",
                object_id=achievement.id,
                details=f"file={evidence.id}",
            )
            await session.commit()
        response = FileResponse(path, media_type=evidence.mime_type, content_disposition_type="inline")
        response.headers["cache-control"] = "private, no-store"
        return response
