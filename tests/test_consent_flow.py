"""Withdrawing consent (152-ФЗ) through the local Bot API server. A guardian for one child: the link goes at
once, the guardian can no longer act about that child by any button, the staff are told. A student for
themself: their account leaves their record in the same way."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from bot.callbacks import PortfolioCb, PortfolioView
from bot.services.consents import withdraw_consent
from bot.services.outbox import NotificationPayload, enqueue
from bot.services.principal import Principal
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    AuditEvent,
    Consent,
    FsmRecord,
    GuardianLink,
    Notification,
    ResultsRequest,
    Student,
)
from models.base import utcnow
from models.enums import (
    AchievementStatus,
    ConsentDecision,
    GuardianLinkStatus,
    OutboxStatus,
    Source,
    StaffRole,
)
from tests.harness import BotHarness
from tests.people import add_student, guardian_code, guardian_of, join, staff_member, student_code
from tests.test_evidence import image_bytes
from tests.tg_users import FakeUser


async def account_of(bot: BotHarness, telegram_id: int) -> Account:
    async with bot.session_factory() as session:
        return (await session.exec(select(Account).where(Account.telegram_id == telegram_id))).one()


async def pending_submission(bot: BotHarness, student_id: int, account_id: int, number: str) -> int:
    async with bot.session_factory() as session:
        achievement = Achievement(
            number=number,
            student_id=student_id,
            submitted_by_account_id=account_id,
            category="olympiad",
            level="regional",
            result="prize_winner",
            title="Олимпиада",
            event_date=date.today(),
            source=Source.OUR_SCHOOL,
        )
        session.add(achievement)
        await session.commit()
        return achievement.id  # type: ignore[return-value]


async def queued_for_later(bot: BotHarness, account_id: int, student_id: int, key: str) -> None:
    """A notification about a child that the sender will only take tomorrow."""
    async with bot.session_factory() as session:
        await enqueue(
            session, account_id, "decision", NotificationPayload(text=key), key, student_id=student_id
        )
        notification = (await session.exec(select(Notification).where(Notification.dedup_key == key))).one()
        notification.not_before = utcnow() + timedelta(days=1)
        session.add(notification)
        await session.commit()


async def test_a_parent_withdraws_consent_and_loses_every_way_to_that_child(bot: BotHarness) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")
    other_teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="3Б", first_name="Нина")
    admin = await staff_member(bot, StaffRole.ADMIN, first_name="Директор")
    parent = await guardian_of(bot, child, sibling, first_name="Ольга", last_name="Секретова")
    parent_account = await account_of(bot, parent.id)
    assert parent_account.id is not None
    mine = await pending_submission(bot, child, parent_account.id, "2026-0001")
    someone_elses = await pending_submission(
        bot, child, (await account_of(bot, teacher.id)).id or 0, "2026-0002"
    )
    sisters = await pending_submission(bot, sibling, parent_account.id, "2026-0003")
    await queued_for_later(bot, parent_account.id, child, "about-child")
    await queued_for_later(bot, parent_account.id, sibling, "about-sibling")

    parent.send_text("👨‍👩‍👧 Мои дети")
    children_list = await parent.wait_for("Ваши дети")
    assert ["Иванов Пётр, 5А"] in children_list.buttons and ["Иванова Анна, 3Б"] in children_list.buttons
    # The wizard is open at «whose achievement?» while the parent withdraws consent elsewhere.
    parent.send_text("➕ Добавить достижение")
    wizard = await parent.wait_for("Иванов Пётр")
    parent.press("Иванов Пётр, 5А", children_list)
    card = await parent.wait_for("🚫 Отозвать согласие")
    parent.press("🚫 Отозвать согласие", card)
    question = await parent.wait_for("Отозвать согласие на обработку")
    assert "классный руководитель и администрация" in (question.text or "")
    parent.press("Да, отозвать", question)
    await parent.wait_for("Согласие отозвано")
    menu = await parent.wait_for("Меню обновлено")
    assert ["👨‍👩‍👧 Мои дети"] in parent.reply_keyboard() and menu.text

    async with bot.session_factory() as session:
        links = {
            link.student_id: link
            for link in (
                await session.exec(select(GuardianLink).where(GuardianLink.account_id == parent_account.id))
            ).all()
        }
        consents = (
            await session.exec(
                select(Consent).where(Consent.account_id == parent_account.id).order_by(Consent.id)
            )
        ).all()
        statuses = {a.id: a.status for a in (await session.exec(select(Achievement))).all()}
        change = (
            await session.exec(
                select(AchievementStatusChange).where(AchievementStatusChange.achievement_id == mine)
            )
        ).one()
        queued = {
            n.dedup_key: n.status
            for n in (
                await session.exec(select(Notification).where(Notification.account_id == parent_account.id))
            ).all()
        }
        withdrawn_events = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "consent_withdrawn"))
        ).all()
    assert links[child].status == GuardianLinkStatus.REVOKED and links[child].revoked_at is not None
    assert links[sibling].status == GuardianLinkStatus.CONFIRMED
    assert [(c.student_id, c.decision) for c in consents][-1] == (child, ConsentDecision.WITHDRAWN)
    assert statuses == {
        mine: AchievementStatus.WITHDRAWN,
        someone_elses: AchievementStatus.PENDING,
        sisters: AchievementStatus.PENDING,
    }
    assert change.to_status == AchievementStatus.WITHDRAWN and change.note == "consent withdrawn"
    assert queued["about-child"] == OutboxStatus.CANCELLED
    assert queued["about-sibling"] == OutboxStatus.PENDING
    assert [(e.student_id, e.allowed, e.actor_account_id) for e in withdrawn_events] == [
        (child, True, parent_account.id)
    ]

    notice = await teacher.wait_for("отозвал согласие", timeout=10)
    assert "Иванов Пётр" in (notice.text or "") and "5А" in (notice.text or "")
    assert "Ольга" not in (notice.text or "") and "Секретова" not in (notice.text or "")
    assert "не рассмотренных: 1" in (notice.text or "")
    admin_notice = await admin.wait_for("Иванов Пётр", timeout=10)
    assert "отозвал согласие" in (admin_notice.text or "")
    assert not [m for m in other_teacher.messages if "согласие" in (m.text or "")]

    # Every old button about that child is refused politely; the sibling is untouched.
    refused_submit = parent.press("Иванов Пётр", wizard)
    assert "Нет доступа" in (await refused_submit.wait_answer())["text"]
    pressed = parent.press_callback(card.message_id, f"gc:withdraw:{child}")
    assert "больше не связан" in (await pressed.wait_answer())["text"]
    pressed = parent.press_callback(card.message_id, f"gc:open:{child}")
    assert "больше не связан" in (await pressed.wait_answer())["text"]
    pressed = parent.press_callback(question.message_id, f"gc:confirm:{child}")
    assert "больше не связан" in (await pressed.wait_answer())["text"]
    parent.send_text("/cancel")
    await parent.wait_for("отменено")

    parent.send_text("👨‍👩‍👧 Мои дети")
    now_listed = await parent.wait_for("Ваши дети")
    assert "Иванова Анна" in (now_listed.text or "") and "Иванов Пётр" not in (now_listed.text or "")

    parent.send_text("📄 Запросить результаты")
    scope = await parent.wait_for("За какой период")
    forged = parent.press_callback(scope.message_id, f"rq:scope:current_year:{child}")
    assert "Нет доступа" in (await forged.wait_answer())["text"]
    async with bot.session_factory() as session:
        assert (await session.exec(select(ResultsRequest))).all() == []
        denied = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.student_id == child, AuditEvent.allowed == False)  # noqa: E712
            )
        ).all()
    assert {e.action for e in denied} >= {"consent_withdrawn", "extract_request_denied"}


async def test_an_only_child_withdrawn_mid_wizard_ends_the_wizard_and_the_menu(bot: BotHarness) -> None:
    child = await add_student(bot, "7В", "Орлова", "Вера")
    await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="7В")
    parent = await guardian_of(bot, child)
    parent.send_text("👨‍👩‍👧 Мои дети")
    children_list = await parent.wait_for("Ваши дети")
    parent.send_text(
        "➕ Добавить достижение"
    )  # the only child is chosen at once: the wizard asks for a photo
    await parent.wait_for("фото")
    async with bot.session_factory() as session:
        draft = (await session.exec(select(FsmRecord).where(FsmRecord.key.contains(str(parent.id))))).one()  # type: ignore[attr-defined]
    assert draft.state is not None and str(child) in draft.data

    parent.press("Орлова Вера, 7В", children_list)
    parent.press("🚫 Отозвать согласие", await parent.wait_for("🚫 Отозвать согласие"))
    parent.press("Да, отозвать", await parent.wait_for("Отозвать согласие на обработку"))
    await parent.wait_for("Согласие отозвано")
    await parent.wait_for("Меню обновлено")

    assert parent.reply_keyboard() == [["🌐 Язык", "❓ Помощь"]]
    async with bot.session_factory() as session:
        draft = (await session.exec(select(FsmRecord).where(FsmRecord.key.contains(str(parent.id))))).first()  # type: ignore[attr-defined]
    assert draft is None or draft.state is None


async def student_joins(bot: BotHarness, student_id: int, **profile: object) -> FakeUser:
    pupil = bot.server.user(**profile)  # type: ignore[arg-type]
    return await join(pupil, await student_code(bot, student_id))


async def test_a_student_withdraws_their_own_consent_from_their_profile(bot: BotHarness) -> None:
    pupil_id = await add_student(bot, "8А", "Смирнов", "Егор")
    other_id = await add_student(bot, "8А", "Смирнова", "Дарья")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="8А", first_name="Елена")
    admin = await staff_member(bot, StaffRole.ADMIN, first_name="Директор")
    pupil = await student_joins(bot, pupil_id, first_name="Егор")
    pupil_account = await account_of(bot, pupil.id)
    teacher_account = await account_of(bot, teacher.id)
    assert pupil_account.id is not None and teacher_account.id is not None
    mine = await pending_submission(bot, pupil_id, pupil_account.id, "2026-0101")
    teachers = await pending_submission(bot, pupil_id, teacher_account.id, "2026-0102")
    await queued_for_later(bot, pupil_account.id, pupil_id, "about-me")

    pupil.send_text("🙋 Мой профиль")
    profile = await pupil.wait_for("Вы:")
    assert "Смирнов Егор" in (profile.text or "") and profile.buttons == [["🚫 Отозвать согласие"]]
    # A forged press about a classmate is refused and audited, and nothing changes.
    forged = pupil.press_callback(profile.message_id, f"gc:withdraw:{other_id}")
    assert "не связан" in (await forged.wait_answer())["text"]
    forged = pupil.press_callback(profile.message_id, f"gc:confirm:{other_id}")
    assert "не связан" in (await forged.wait_answer())["text"]

    pupil.press("🚫 Отозвать согласие", profile)
    question = await pupil.wait_for("Отозвать согласие на обработку ваших")
    assert "новый код приглашения" in (question.text or "") and "остаются в учёте школы" in (
        question.text or ""
    )
    assert "ребёнка" not in (question.text or "")
    pupil.press("Отмена", question)
    back = await pupil.wait_for("Вы:")  # cancel returns to the profile card: nothing withdrawn
    pupil.press("🚫 Отозвать согласие", back)
    question = await pupil.wait_for("Отозвать согласие на обработку ваших")
    pupil.press("Да, отозвать", question)
    done = await pupil.wait_for("Согласие отозвано")
    assert "новый код приглашения" in (done.text or "")
    await pupil.wait_for("Меню обновлено")
    assert pupil.reply_keyboard() == [["🌐 Язык", "❓ Помощь"]]

    async with bot.session_factory() as session:
        student = await session.get(Student, pupil_id)
        classmate = await session.get(Student, other_id)
        consents = (
            await session.exec(
                select(Consent).where(Consent.account_id == pupil_account.id).order_by(Consent.id)
            )
        ).all()
        statuses = {a.id: a.status for a in (await session.exec(select(Achievement))).all()}
        queued = (await session.exec(select(Notification).where(Notification.dedup_key == "about-me"))).one()
        events = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "consent_withdrawn").order_by(AuditEvent.id)
            )
        ).all()
    assert student is not None and student.account_id is None
    assert classmate is not None and classmate.account_id is None
    assert [(c.student_id, c.decision) for c in consents] == [
        (pupil_id, ConsentDecision.GIVEN),
        (pupil_id, ConsentDecision.WITHDRAWN),
    ]
    assert statuses == {mine: AchievementStatus.WITHDRAWN, teachers: AchievementStatus.PENDING}
    assert queued.status == OutboxStatus.CANCELLED
    assert [(e.student_id, e.allowed, e.actor_account_id, e.object_type) for e in events] == [
        (other_id, False, pupil_account.id, None),
        (pupil_id, True, pupil_account.id, "student_account"),
    ]

    notice = await teacher.wait_for("сам отозвал согласие", timeout=10)
    assert "Смирнов Егор" in (notice.text or "") and "8А" in (notice.text or "")
    assert "Родитель" not in (notice.text or "") and "не рассмотренных: 1" in (notice.text or "")
    await admin.wait_for("сам отозвал согласие", timeout=10)

    # The portfolio is closed to them, by the command and by an old button alike.
    pupil.send_text("/portfolio")
    await pupil.wait_for("Портфолио видят ученик и его родители")
    old = PortfolioCb(view=PortfolioView.OPEN, student_id=pupil_id).pack()
    refused = pupil.press_callback(profile.message_id, old)
    assert "Нет доступа" in (await refused.wait_answer())["text"]


async def test_a_double_confirmation_withdraws_the_students_consent_once(bot: BotHarness) -> None:
    pupil_id = await add_student(bot, "6Б", "Лебедев", "Марк")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="6Б")
    pupil = await student_joins(bot, pupil_id)
    pupil.send_text("🙋 Мой профиль")
    profile = await pupil.wait_for("Вы:")
    pupil.send_text("➕ Добавить достижение")  # the only student: the wizard asks for a photo at once
    await pupil.wait_for("фото")
    pupil.press("🚫 Отозвать согласие", profile)
    question = await pupil.wait_for("Отозвать согласие на обработку ваших")
    first = pupil.press("Да, отозвать", question)
    second = pupil.press("Да, отозвать", question)
    assert not (await first.wait_answer()).get("text")
    assert "не связан" in (await second.wait_answer())["text"]
    await pupil.wait_for("Меню обновлено")

    # Two presses racing past the access check: the conditional update lets only one through.
    async with bot.session_factory() as session:
        account = await account_of(bot, pupil.id)
        stale = Principal(account_id=account.id, own_student_id=pupil_id)  # loaded before the first press
        assert await withdraw_consent(session, stale, pupil_id, utcnow()) is None

    async with bot.session_factory() as session:
        withdrawals = (
            await session.exec(select(Consent).where(Consent.decision == ConsentDecision.WITHDRAWN))
        ).all()
        events = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "consent_withdrawn"))
        ).all()
        draft = (await session.exec(select(FsmRecord).where(FsmRecord.key.contains(str(pupil.id))))).first()  # type: ignore[attr-defined]
    assert len(withdrawals) == 1
    assert sorted(e.allowed for e in events) == [False, False, True]
    assert draft is None or draft.state is None  # the wizard about their record is gone
    await teacher.wait_for("сам отозвал согласие", timeout=10)
    assert len([m for m in teacher.messages if "сам отозвал" in (m.text or "")]) == 1


async def test_a_student_who_is_a_siblings_guardian_withdraws_only_their_own_consent_and_can_rejoin(
    bot: BotHarness,
) -> None:
    pupil_id = await add_student(bot, "11А", "Козлов", "Иван")
    sibling_id = await add_student(bot, "2Б", "Козлова", "Маша")
    await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="11А")
    pupil = await student_joins(bot, pupil_id, first_name="Иван")
    await join(pupil, await guardian_code(bot, sibling_id))  # an adult brother, the little one's guardian
    pupil_account = await account_of(bot, pupil.id)

    pupil.send_text("👨‍👩‍👧 Мои дети")
    children = await pupil.wait_for("Ваши дети")
    pupil.press("Козлова Маша, 2Б", children)
    sibling_card = await pupil.wait_for("Козлова Маша, 2Б класс")
    assert "Вы:" not in (sibling_card.text or "")
    pupil.send_text("🙋 Мой профиль")
    profile = await pupil.wait_for("Вы:")
    assert "Козлов Иван" in (profile.text or "") and "Козлова" not in (profile.text or "")
    pupil.press("🚫 Отозвать согласие", profile)
    question = await pupil.wait_for("Отозвать согласие на обработку ваших")
    assert "ребёнка" not in (question.text or "")
    pupil.press("Да, отозвать", question)
    done = await pupil.wait_for("Согласие отозвано")
    assert "Ваш аккаунт отключён" in (done.text or "")
    await pupil.wait_for("Меню обновлено")
    assert ["👨‍👩‍👧 Мои дети"] in pupil.reply_keyboard() and ["🙋 Мой профиль"] not in pupil.reply_keyboard()

    # Their own old button speaks of their data, not of «this child»; the sister's card still works.
    pressed = pupil.press_callback(profile.message_id, f"gc:withdraw:{pupil_id}")
    assert "Эта кнопка больше не действует" in (await pressed.wait_answer())["text"]
    pupil.press("🚫 Отозвать согласие", sibling_card)
    assert "ребёнка Козлова Маша" in ((await pupil.wait_for("Отозвать согласие на обработку")).text or "")
    async with bot.session_factory() as session:
        student = await session.get(Student, pupil_id)
        link = (await session.exec(select(GuardianLink).where(GuardianLink.student_id == sibling_id))).one()
    assert student is not None and student.account_id is None
    assert link.account_id == pupil_account.id and link.status == GuardianLinkStatus.CONFIRMED

    # A new code from the class teacher links them again, with a new consent on record.
    await join(pupil, await student_code(bot, pupil_id))
    pupil.send_text("🙋 Мой профиль")
    assert "Козлов Иван" in ((await pupil.wait_for("Вы:")).text or "")
    async with bot.session_factory() as session:
        student = await session.get(Student, pupil_id)
        decisions = (
            await session.exec(
                select(Consent.decision)
                .where(Consent.account_id == pupil_account.id, Consent.student_id == pupil_id)
                .order_by(Consent.id)
            )
        ).all()
    assert student is not None and student.account_id == pupil_account.id
    assert decisions == [ConsentDecision.GIVEN, ConsentDecision.WITHDRAWN, ConsentDecision.GIVEN]


async def test_a_student_withdrawing_mid_wizard_in_english_leaves_no_photo_of_the_draft_behind(
    bot: BotHarness,
) -> None:
    pupil_id = await add_student(bot, "9В", "Попов", "Лев")
    await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="9В")
    pupil = await student_joins(bot, pupil_id)
    pupil.send_text("/lang")
    pupil.press("English", await pupil.wait_for("Choose your language"))
    await pupil.wait_for("Menu updated")
    pupil.send_text("🙋 My profile")
    profile = await pupil.wait_for("You: Попов Лев")
    assert "You gave your consent" in (profile.text or "") and profile.buttons == [["🚫 Withdraw consent"]]
    pupil.send_photo(image_bytes("JPEG"))  # from the menu: the wizard starts with it, for their own record
    await pupil.next_message()  # the next question of the wizard
    stored = [path for path in bot.settings.media_dir.rglob("*") if path.is_file()]
    assert len(stored) == 1

    pupil.press("🚫 Withdraw consent", profile)
    question = await pupil.wait_for("Withdraw your consent to the processing of your personal data?")
    pupil.press("Yes, withdraw", question)
    done = await pupil.wait_for("Consent withdrawn")
    assert "Your account is disconnected from your school record" in (done.text or "")
    await pupil.wait_for("Menu updated")
    pressed = pupil.press_callback(profile.message_id, f"gc:open:{pupil_id}")
    assert "This button no longer works" in (await pressed.wait_answer())["text"]

    assert not stored[0].exists()
    async with bot.session_factory() as session:
        draft = (await session.exec(select(FsmRecord).where(FsmRecord.key.contains(str(pupil.id))))).first()  # type: ignore[attr-defined]
    assert draft is None or draft.state is None


async def test_after_withdrawing_the_parent_can_no_longer_view_the_childs_portfolio_by_any_old_button(
    bot: BotHarness,
) -> None:
    from tests.test_portfolio_flow import add_achievement

    child = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    parent = await guardian_of(bot, child, sibling, first_name="Ольга")
    diploma = await add_achievement(bot, child, "Олимпиада по математике", date.today(), photos=1)
    await add_achievement(bot, sibling, "Конкурс сестры", date.today())

    parent.send_text("📚 Портфолио")
    picker = await parent.wait_for("Чьё портфолио открыть?")
    parent.press("Иванов Пётр", picker)
    page = await parent.wait_for("Портфолио: Иванов Пётр")
    parent.press("1. Олимпиада по математике", page)
    await parent.wait_for("📎 Достижение № ")  # seen while the consent stood

    parent.send_text("👨‍👩‍👧 Мои дети")
    children = await parent.wait_for("Ваши дети")
    parent.press("Иванов Пётр, 5А", children)
    parent.press("🚫 Отозвать согласие", await parent.wait_for("🚫 Отозвать согласие"))
    parent.press("Да, отозвать", await parent.wait_for("Отозвать согласие на обработку"))
    await parent.wait_for("Меню обновлено")
    await bot.server.idle()
    parent.read_all()

    for view, page_number, item in (
        (PortfolioView.PAGE, 0, 0),
        (PortfolioView.OPEN, 0, 0),
        (PortfolioView.ITEM, 0, diploma.id),
        (PortfolioView.PDF, 0, 0),
        (PortfolioView.MINE, 0, 0),
    ):
        data = PortfolioCb(view=view, student_id=child, page=page_number, item=item or 0).pack()
        answer = (await parent.press_callback(page.message_id, data).wait_answer())["text"]
        assert "Нет доступа" in answer, view
    await bot.server.idle()
    assert parent.read_all() == []  # no page, photo or PDF about the child
    parent.send_text("/portfolio")  # only the sibling is left: straight to her portfolio
    assert "Портфолио: Иванова Анна" in ((await parent.next_message()).text or "")
    async with bot.session_factory() as session:
        refused = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.student_id == child, AuditEvent.allowed == False)  # noqa: E712
            )
        ).all()
    assert sorted(e.action for e in refused) == sorted(
        [
            "portfolio_viewed",
            "portfolio_viewed",
            "evidence_viewed",
            "portfolio_exported",
            "portfolio_submissions_viewed",
        ]
    )
