"""The moderation queue in the web admin, with the real bot running: what the deputy sees (evidence shown
through the admin's own access-checked route), and that a decision there reaches the submitter in the bot."""

from __future__ import annotations

from sqlmodel import select

from models import Achievement, AuditEvent, EvidenceFile, Notification
from models.enums import AchievementStatus, AuditChannel
from tests.admin_support import admin_of, sign_in, submit
from tests.factories import School, make_school
from tests.harness import BotHarness


async def _pending(bot: BotHarness, school: School, title: str = "Олимпиада по физике") -> Achievement:
    return await submit(
        bot.session_factory, bot.settings.media_dir, school.students_5a[0], school.guardian, title
    )


async def test_a_deputy_approves_in_the_admin_and_the_parent_is_told_in_the_bot(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    parent = bot.server.user(id=school.guardian.telegram_id, first_name="Ольга", started=True)
    achievement = await _pending(bot, school)
    admin = admin_of(bot)
    csrf = await sign_in(admin, bot.session_factory, school.deputy)

    queue = await admin.get("/admin/moderation")
    assert queue.status_code == 200
    assert "Олимпиада по физике" in queue.text and "Иванов Пётр" in queue.text
    async with bot.session_factory() as session:
        evidence = (
            await session.exec(select(EvidenceFile).where(EvidenceFile.achievement_id == achievement.id))
        ).one()
    assert f'src="http://testserver/admin/evidence/{evidence.id}"' in queue.text
    assert "api.telegram.org" not in queue.text and bot.settings.bot_token not in queue.text

    image = await admin.get(f"/admin/evidence/{evidence.id}")
    assert image.status_code == 200 and image.header("content-type") == evidence.mime_type
    assert image.content == (bot.settings.media_dir / evidence.path).read_bytes()

    approved = await admin.post(f"/admin/moderation/{achievement.id}/approve", data={"csrf_token": csrf})
    assert approved.status_code == 303
    assert "одобрено" in (await admin.get(approved.location)).text

    told = await parent.wait_for("одобрено и добавлено в портфолио")
    assert "Олимпиада по физике" in (told.text or "")
    async with bot.session_factory() as session:
        stored = await session.get(Achievement, achievement.id)
        assert (
            stored.status == AchievementStatus.APPROVED and stored.decided_by_account_id == school.deputy.id
        )
        note = (
            await session.exec(
                select(Notification).where(Notification.dedup_key == f"decision:{achievement.id}")
            )
        ).one()
        assert note.account_id == school.guardian.id
        audited = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "achievement_approved", AuditEvent.object_id == str(achievement.id)
                )
            )
        ).one()
        assert audited.channel == AuditChannel.WEB and audited.actor_account_id == school.deputy.id
        viewed = (await session.exec(select(AuditEvent).where(AuditEvent.action == "evidence_viewed"))).all()
        assert [e.actor_account_id for e in viewed] == [school.deputy.id]

    late = await admin.post(f"/admin/moderation/{achievement.id}/approve", data={"csrf_token": csrf})
    assert "Уже рассмотрено" in (await admin.get(late.location)).text


async def test_a_rejection_in_the_admin_carries_the_typed_reason_to_the_parent(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    parent = bot.server.user(id=school.guardian.telegram_id, first_name="Ольга", started=True)
    achievement = await _pending(bot, school)
    admin = admin_of(bot)
    csrf = await sign_in(admin, bot.session_factory, school.admin)

    no_reason = await admin.post(
        f"/admin/moderation/{achievement.id}/reject",
        data={"csrf_token": csrf, "reason": "other", "reason_text": " "},
    )
    assert "укажите причину" in (await admin.get(no_reason.location)).text
    rejected = await admin.post(
        f"/admin/moderation/{achievement.id}/reject",
        data={"csrf_token": csrf, "reason": "other", "reason_text": "Нужна подпись <организатора>"},
    )
    assert rejected.status_code == 303
    told = await parent.wait_for("отклонено")
    assert "Причина: Нужна подпись <организатора>" in (told.text or "")
    async with bot.session_factory() as session:
        stored = await session.get(Achievement, achievement.id)
    assert (
        stored.status == AchievementStatus.REJECTED and stored.reject_reason == "Нужна подпись <организатора>"
    )


async def test_corrections_in_the_admin_change_the_record_and_are_audited(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    achievement = await _pending(bot, school, title="Олимпиада <b>по физике</b>")
    admin = admin_of(bot)
    csrf = await sign_in(admin, bot.session_factory, school.admin)

    queue = await admin.get("/admin/moderation")
    assert "Олимпиада &lt;b&gt;по физике&lt;/b&gt;" in queue.text and "<b>по физике</b>" not in queue.text
    response = await admin.post(
        f"/admin/moderation/{achievement.id}/correct",
        data={
            "csrf_token": csrf,
            "title": "Олимпиада по физике",
            "level": "municipal",
            "event_date": "2026-11-19",
        },
    )
    assert "Исправления сохранены" in (await admin.get(response.location)).text
    bad = await admin.post(
        f"/admin/moderation/{achievement.id}/correct", data={"csrf_token": csrf, "event_date": "2099-01-01"}
    )
    assert "Неверное значение" in (await admin.get(bad.location)).text
    async with bot.session_factory() as session:
        stored = await session.get(Achievement, achievement.id)
        audited = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "achievement_corrected"))
        ).one()
    assert (stored.title, stored.level, stored.event_date.isoformat()) == (
        "Олимпиада по физике",
        "municipal",
        "2026-11-19",
    )
    assert stored.status == AchievementStatus.PENDING
    assert audited.details == "changed: event_date, level, title" and audited.channel == AuditChannel.WEB
