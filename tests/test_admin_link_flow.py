"""/admin in the bot: deputies and administrators get a one-time sign-in link; everyone else is told the
web admin isn't for them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlmodel import select

from models import AdminLoginToken
from tests.admin_support import admin_of
from tests.factories import make_school
from tests.harness import BotHarness

LINK = re.compile(r"http://127\.0\.0\.1:8080/admin/login\?token=[A-Za-z0-9_-]{43}")


async def test_a_deputy_gets_a_link_that_signs_in_once(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    deputy = bot.server.user(id=school.deputy.telegram_id, first_name="Марина", started=True)
    deputy.send_text("/admin")
    message = await deputy.wait_for("Ссылка для входа в веб-админку")
    match = LINK.search(message.text or "")
    assert match, message.text
    assert "10 минут" in (message.text or "")

    url = urlsplit(match.group(0))
    admin = admin_of(bot)
    opened = await admin.get(f"{url.path}?{url.query}")
    assert opened.status_code == 302
    assert "Завуч Морозова" in (await admin.get("/admin/")).text
    assert (await admin_of(bot).get(f"{url.path}?{url.query}")).status_code == 410
    async with bot.session_factory() as session:
        tokens = (await session.exec(select(AdminLoginToken))).all()
    assert [t.account_id for t in tokens] == [school.deputy.id]
    assert url.query.removeprefix("token=") not in {t.token_hash for t in tokens}  # only the hash is kept


async def test_an_administrator_gets_a_link_too(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    director = bot.server.user(id=school.admin.telegram_id, first_name="Иван", started=True)
    director.send_text("/admin")
    assert LINK.search((await director.wait_for("Ссылка для входа")).text or "")


async def test_teachers_parents_and_strangers_are_told_the_admin_is_not_for_them(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    people = [
        bot.server.user(id=school.teacher_5a.telegram_id, first_name="Елена", started=True),
        bot.server.user(id=school.coach.telegram_id, first_name="Олег", started=True),
        bot.server.user(id=school.guardian.telegram_id, first_name="Ольга", started=True),
        bot.server.user(first_name="Незнакомец"),
    ]
    for person in people:
        person.send_text("/admin")
        answer = await person.wait_for("Веб-админка")
        assert "для заместителей директора и администрации школы" in (answer.text or "")
        assert "token=" not in (answer.text or "")
    async with bot.session_factory() as session:
        assert (await session.exec(select(AdminLoginToken))).all() == []


async def test_help_tells_deputies_about_admin_and_parents_nothing_of_it(bot: BotHarness) -> None:
    school = await make_school(bot.session_factory)
    deputy = bot.server.user(id=school.deputy.telegram_id, first_name="Марина", started=True)
    deputy.send_text("/help")
    assert "/admin — одноразовая ссылка для входа" in ((await deputy.wait_for("Веб-админка")).text or "")
    parent = bot.server.user(id=school.guardian.telegram_id, first_name="Ольга", started=True)
    parent.send_text("/help")
    assert "/admin" not in ((await parent.wait_for("Команды:")).text or "")
