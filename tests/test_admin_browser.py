"""The web admin in a real browser (Debian's Chromium driven by Playwright) beside the real bot: a parent
sends a diploma through the bot, the deputy signs in with the link `/admin` gave them, sees the dashboard,
approves the card in the moderation queue, and the parent is told in the bot. Screenshots of the dashboard
and the queue are saved under tests/artifacts/ (not committed) for people to look at.

Skipped when Chromium isn't installed (`make browser` installs it); no browser is ever downloaded.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlmodel import select

from admin.server import serving
from models import Achievement
from models.enums import AchievementStatus, SchoolLevel, StaffRole
from tests.admin_support import admin_of
from tests.harness import BotHarness
from tests.people import add_student, guardian_of, staff_member
from tests.test_submission_flow import answer_wizard

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (`make browser` installs Debian's chromium)"
)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FONT = Path(__file__).resolve().parents[1] / "bot" / "reports" / "fonts" / "DejaVuSans-Bold.ttf"
LINK = re.compile(r"https?://\S+/admin/login\?token=[A-Za-z0-9_-]+")
# Headless, and nothing of Chromium's own reaches the network (no updates, sync or background requests).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def diploma() -> bytes:
    """A photo that looks like a diploma in the screenshots."""
    image = Image.new("RGB", (640, 450), (250, 244, 225))
    draw = ImageDraw.Draw(image)
    draw.rectangle((16, 16, 623, 433), outline=(150, 110, 40), width=8)
    draw.text((320, 150), "ДИПЛОМ", fill=(120, 30, 30), font=ImageFont.truetype(str(FONT), 56), anchor="mm")
    small = ImageFont.truetype(str(FONT), 22)
    draw.text((320, 240), "призёра региональной олимпиады", fill=(40, 40, 40), font=small, anchor="mm")
    draw.text((320, 280), "Иванов Пётр, 5А", fill=(40, 40, 40), font=small, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def test_a_deputy_signs_in_with_the_link_and_approves_in_the_browser(bot: BotHarness) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id, first_name="Ольга")
    deputy = await staff_member(bot, StaffRole.DEPUTY, level=SchoolLevel.OOO, first_name="Марина")

    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото диплома")
    parent.send_photo(diploma())
    await answer_wizard(parent, "Олимпиада по физике")
    await parent.wait_for("отправлено на проверку")

    deputy.send_text("/admin")
    link = LINK.search((await deputy.wait_for("Ссылка для входа в веб-админку")).text or "")
    assert link, "no sign-in link in the bot's answer"
    url = urlsplit(link.group(0))

    ARTIFACTS.mkdir(exist_ok=True)
    settings = bot.settings.model_copy(update={"admin_port": 0})
    async with serving(settings, admin_of(bot).app) as server:
        assert server.started
        base = f"http://127.0.0.1:{server.port}"
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
            )
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
                # What the page itself gets wrong: a script error, or something the CSP had to block.
                problems: list[str] = []
                page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
                page.on(
                    "console",
                    lambda message: (
                        problems.append(message.text) if "Content Security Policy" in message.text else None
                    ),
                )
                await page.goto(f"{base}{url.path}?{url.query}")
                assert urlsplit(page.url).path == "/admin/"
                body = await page.inner_text("body")
                assert "МБОУ «Школа № 1»" in body and "На проверке по классам" in body
                assert "5А" in body
                await page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

                await page.goto(f"{base}/admin/moderation")
                card = page.locator(".card", has_text="Олимпиада по физике")
                assert "Иванов Пётр, 5А" in await card.inner_text()
                evidence = card.locator("img")
                assert await evidence.evaluate("img => img.complete && img.naturalWidth") == 640
                await page.screenshot(path=str(ARTIFACTS / "admin-moderation.png"), full_page=True)

                await card.get_by_role("button", name="Одобрить").click()
                await page.wait_for_load_state()
                body = await page.inner_text("body")
                assert "Достижение одобрено" in body and "Очередь пуста" in body
                assert problems == []
            finally:
                await browser.close()

    told = await parent.wait_for("одобрено")
    assert "Олимпиада по физике" in (told.text or "")
    async with bot.session_factory() as session:
        achievement = (await session.exec(select(Achievement))).one()
    assert achievement.status == AchievementStatus.APPROVED
