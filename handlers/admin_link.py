"""/admin: a deputy or administrator gets a one-time link that signs them in to the web admin."""

from __future__ import annotations

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import LinkPreviewOptions, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.services import access, admin_auth
from bot.services.principal import Principal
from models.base import utcnow

router = Router(name="admin_link")
router.message.filter(F.chat.type == ChatType.PRIVATE)


@router.message(Command("admin"))
async def cmd_admin(
    message: Message, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    if principal.account_id is None or not access.may_use_admin(principal):
        await message.answer(_("Веб-админка — для заместителей директора и администрации школы."))
        return
    token = await admin_auth.issue_link(session, principal.account_id, utcnow())
    url = admin_auth.login_url(settings.admin_public_url, token)
    await message.answer(
        _(
            "Ссылка для входа в веб-админку:\n{url}\n\n"
            "Она действует 10 минут и только один раз. Не пересылайте её никому."
        ).format(url=html.quote(url)),
        # A link preview would fetch the page and spend the link before you open it.
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
