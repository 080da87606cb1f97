"""The demo: a small school plays its first week with the real bot against the local Bot API server.

The bot runs as its own process (`python -m bot run`, exactly what `make run` starts), with its real
database and scheduler; the administrator's tools run as the real CLI. People are played through the
strict local Bot API server from the tests. Everything a person saw is printed as a transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from sqlmodel import select

from bot.config import Settings
from bot.demo.diploma import diploma_photo
from bot.migrate import upgrade_database
from bot.reports.invite_sheet import build_invite_csv, build_invite_sheet
from bot.services.invites import SheetEntry, issue_class_sheet_invites, last_valid_day
from bot.services.roster import normalize_class_label
from models import ResultsRequest, SchoolClass
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel
from tests.telegram_server import StoredMessage, TelegramServer
from tests.tg_users import FakeUser

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_SECONDS = 300  # a guard against a hang; the week plays in 1–2 minutes on an idle machine
ROSTER = Path(__file__).with_name("roster.csv")
_LINK = re.compile(r"start=([A-Za-z0-9_-]+)")
_ADMIN_LINK = re.compile(r"http://\S+/admin/\S+")


class Demo:
    def __init__(self, server: TelegramServer, workdir: Path, output: Path, school_name: str) -> None:
        admin_port = free_port()  # the web admin runs inside the bot process, as under `make run`
        self.server = server
        self.output = output
        self.log = (output / "bot.log").open("wb")  # the bot's own log lines, across its restarts
        self.settings = Settings(
            _env_file=None,
            bot_token=server.token,
            bot_api_url=server.base_url,
            database_url=f"sqlite+aiosqlite:///{workdir / 'portfolio.sqlite3'}",
            media_dir=workdir / "media",
            school_name=school_name,
            admin_port=admin_port,
            admin_public_url=f"http://127.0.0.1:{admin_port}",
        )
        # The bot and the CLI are separate processes: they get the same settings through the environment.
        self.env = {
            **os.environ,
            "BOT_TOKEN": self.settings.bot_token,
            "BOT_API_URL": self.settings.bot_api_url,
            "DATABASE_URL": self.settings.database_url,
            "MEDIA_DIR": str(self.settings.media_dir),
            "SCHOOL_NAME": school_name,
            "ADMIN_PORT": str(admin_port),
            "ADMIN_PUBLIC_URL": self.settings.admin_public_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.bot_process: asyncio.subprocess.Process | None = None
        self._printed = 0
        self.said: list[str] = []
        self.admin_link = ""

    async def keep_running(self) -> None:
        """`demo --keep`: the bot and its web admin stay up until Ctrl+C (or SIGTERM), so the sign-in link
        can be opened; then the demo ends as usual: the bot is stopped, the transcript written and the
        temporary database and files removed."""
        self.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Also when the shell started us with SIGINT ignored (a background job): the handler is ours.
            loop.add_signal_handler(signum, stop.set)
        print(
            f"\nВеб-админка: {self.admin_link}\n(ссылка одноразовая, действует 10 минут; Ctrl+C — остановить)",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    # -- the administrator's tools: the real CLI ---------------------------------------------------------

    async def cli(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"`python -m bot {' '.join(args)}` failed:\n{stderr.decode()}")
        self.say(f"$ python -m bot {' '.join(args)}")
        self.say("  " + stdout.decode().strip().replace("\n", "\n  "))
        return stdout.decode()

    async def staff_code(self, *args: str) -> str:
        match = _LINK.search(await self.cli(*args, "--bot-username", self.server.bot_username))
        assert match, "the CLI printed no invite link"
        return match.group(1)

    async def class_sheet(self, class_label: str, guardians_per_student: int = 2) -> list[SheetEntry]:
        """The invite sheet a class teacher prints for the parent meeting, as PDF and CSV."""
        engine = create_engine(self.settings.database_url)
        try:
            async with create_session_factory(engine)() as session:
                grade, letter = normalize_class_label(class_label)
                school_class = (
                    await session.exec(
                        select(SchoolClass).where(SchoolClass.grade == grade, SchoolClass.letter == letter)
                    )
                ).one()
                entries = await issue_class_sheet_invites(
                    session, school_class.id, self.settings.invite_ttl,
                    guardian_codes_per_student=guardians_per_student, channel=AuditChannel.CLI,
                )  # fmt: skip
        finally:
            await engine.dispose()
        expires_on = last_valid_day(entries[0].expires_at, self.settings.tz)
        today = datetime.now(self.settings.tz).date()
        pdf = build_invite_sheet(
            self.settings.school_name, class_label, entries, self.server.bot_username, today, expires_on
        )
        (self.output / f"invites-{class_label}.pdf").write_bytes(pdf)
        (self.output / f"invites-{class_label}.csv").write_bytes(
            build_invite_csv(entries, self.server.bot_username, expires_on)
        )
        self.say(f"Лист приглашений {class_label}: {self.output / f'invites-{class_label}.pdf'}")
        return entries

    async def latest_verification_code(self) -> str:
        engine = create_engine(self.settings.database_url)
        try:
            async with create_session_factory(engine)() as session:
                request = (
                    await session.exec(select(ResultsRequest).order_by(ResultsRequest.id.desc()))  # type: ignore[union-attr]
                ).first()
        finally:
            await engine.dispose()
        assert request is not None and request.verification_code, "no extract was issued"
        return request.verification_code

    # -- the bot -------------------------------------------------------------------------------------

    async def start_bot(self) -> None:
        requests_before = len(self.server.requests)
        self.bot_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log
        )
        while not any(r.method == "getUpdates" for r in self.server.requests[requests_before:]):
            if self.bot_process.returncode is not None:
                raise RuntimeError(f"the bot exited with {self.bot_process.returncode}; see {self.log.name}")
            await asyncio.sleep(0.05)

    async def stop_bot(self) -> None:
        if self.bot_process is None:
            return
        if self.bot_process.returncode is None:  # Ctrl+C in the terminal has reached it already
            with contextlib.suppress(ProcessLookupError):
                self.bot_process.terminate()  # SIGTERM: aiogram stops polling and closes cleanly
        await asyncio.wait_for(self.bot_process.wait(), 15)
        self.bot_process = None

    # -- people ------------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Print a line of the transcript and keep it for demo-output/transcript.txt."""
        print(text)
        self.said.append(text)

    def scene(self, title: str) -> None:
        self.flush()
        self.say(f"\n=== {title} ===")

    def save_document(self, message: StoredMessage) -> None:
        """Keep a PDF the bot sent in demo-output/, as the person would on their phone."""
        self.flush()
        path = self.output / message.content["document"]["file_name"]
        path.write_bytes(self.server.file_bytes(message.file_id or ""))
        self.say(f"  (сохранено: {path})")

    def flush(self) -> None:
        """Print what happened in the chats since the last call."""
        lines = self.server.transcript()
        for line in lines[self._printed :]:
            self.say("  " + line)
        self._printed = len(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def join(user: FakeUser, code: str, *, consent: bool = True) -> None:
    user.send_text(f"/start {code}")
    if consent:
        await user.wait_for("Согласие на обработку")
        user.press("✅ Принимаю")
    await user.wait_for("Выберите действие в меню")


async def play(demo: Demo) -> None:
    server = demo.server
    demo.scene("Администратор загружает список учащихся и приглашает сотрудников")
    await demo.cli("import-roster", str(ROSTER))
    admin_code, teacher_5a_code, deputy_code = await asyncio.gather(  # three terminals at once
        demo.staff_code("init-admin"),
        demo.staff_code("invites", "staff", "--role", "class_teacher", "--class", "5А"),
        demo.staff_code("invites", "staff", "--role", "deputy", "--level", "ООО"),
    )
    entries_5a = {e.full_name: e for e in await demo.class_sheet("5А")}
    entries_5b = {e.full_name: e for e in await demo.class_sheet("5Б", guardians_per_student=1)}

    await demo.start_bot()

    demo.scene("Директор открывает ссылку администратора")
    director = server.user(first_name="Елена", last_name="Викторовна")
    await join(director, admin_code, consent=False)

    demo.scene("Классный руководитель 5А и заместитель директора по ООО подключаются")
    teacher = server.user(first_name="Ольга", last_name="Петровна")
    await join(teacher, teacher_5a_code, consent=False)
    deputy = server.user(first_name="Игорь", last_name="Семёнович")
    await join(deputy, deputy_code, consent=False)

    demo.scene("Родители на собрании сканируют QR-код со своего листка")
    mother = server.user(first_name="Наталья", last_name="Иванова")
    await join(mother, entries_5a["Иванов Пётр Сергеевич"].guardian_codes[0])
    father = server.user(first_name="Андрей", last_name="Смирнов")
    await join(father, entries_5a["Смирнова Алиса Андреевна"].guardian_codes[0])
    await join(father, entries_5b["Смирнов Борис Андреевич"].guardian_codes[0])
    father.send_text("👨‍👩‍👧 Мои дети")
    await father.wait_for("Ваши дети")

    demo.scene("Мама сначала отказывается от согласия, потом передумывает")
    hesitant = server.user(first_name="Светлана", last_name="Кузнецова")
    hesitant.send_text(f"/start {entries_5a['Кузнецов Илья Дмитриевич'].guardian_codes[0]}")
    await hesitant.wait_for("Согласие на обработку")
    hesitant.press("❌ Не принимаю")
    await hesitant.wait_for("Код остаётся действительным")
    await join(hesitant, entries_5a["Кузнецов Илья Дмитриевич"].guardian_codes[0])

    demo.scene("Ученик подключается сам, набрав код вручную")
    pupil = server.user(first_name="Петя")
    pupil.send_text("/start")
    await pupil.wait_for("код приглашения")
    student_code = entries_5a["Иванов Пётр Сергеевич"].student_code
    assert student_code is not None
    pupil.send_text(student_code)
    await pupil.wait_for("Согласие на обработку")
    pupil.press("✅ Принимаю")
    await pupil.wait_for("Выберите действие в меню")

    demo.scene("Кто-то пробует чужой и выдуманный коды")
    stranger = server.user(first_name="Незнакомец")
    stranger.send_text(f"/start {entries_5a['Иванов Пётр Сергеевич'].student_code}")
    await stranger.wait_for("уже использован")
    stranger.send_text("/start 123")
    await stranger.wait_for("не найден")

    demo.scene("Родитель пишет боту в общий чат класса")
    group = server.group(-1001234567890, "Родители 5А")
    mother.send_text("/start", chat=group)
    await group.wait_for("только в личных сообщениях")

    demo.scene("Классный руководитель смотрит, кто подключился; заместитель — охват по классам")
    teacher.send_text("🏫 Мой класс")
    await teacher.wait_for("5А класс")
    deputy.send_text("📊 Подключение")
    await deputy.wait_for("Подключение родителей")

    await play_submissions(demo, mother=mother, father=father, teacher=teacher)
    await play_reward(demo, teacher=teacher, mother=mother)
    await play_portfolio(demo, pupil=pupil, father=father)
    await play_results_request(demo, mother=mother, deputy=deputy)
    await play_digest(demo, director=director, deputy=deputy, teacher=teacher)
    await play_admin_link(demo, director=director)

    demo.scene("Папа переключает язык на английский")
    father.send_text("/lang")
    await father.wait_for("Choose your language")
    father.press("English")
    await father.wait_for("Menu updated")
    father.send_text("/help")
    await father.next_message()

    demo.scene("Бот перезапускается посреди разговора — ничего не теряется")
    late = server.user(first_name="Мария", last_name="Попова")
    late.send_text(f"/start {entries_5a['Попова Ксения Олеговна'].guardian_codes[0]}")
    await late.wait_for("Согласие на обработку")
    demo.flush()
    await demo.stop_bot()
    await demo.start_bot()
    demo.say("  … бот остановлен и запущен заново (новый процесс) …")
    late.press("✅ Принимаю")
    await late.wait_for("Выберите действие в меню")
    demo.flush()


async def fill_wizard(user: FakeUser, category: str, level: str, result: str, title: str) -> None:
    await user.wait_for("Выберите категорию")
    user.press(category)
    await user.wait_for("Какого уровня")
    user.press(level)
    await user.wait_for("Какой результат")
    user.press(result)
    await user.wait_for("Напишите название")
    user.send_text(title)
    await user.wait_for("Когда было мероприятие")
    user.press("В этом месяце")
    await user.wait_for("Где получено")
    user.press("в нашей школе")
    await user.wait_for("Проверьте, всё ли верно")
    user.press("✅ Подтвердить")
    await user.wait_for("отправлено на проверку")


async def play_submissions(demo: Demo, *, mother: FakeUser, father: FakeUser, teacher: FakeUser) -> None:
    demo.scene("Мама присылает диплом олимпиады — две страницы одним альбомом")
    mother.send_text("➕ Добавить достижение")
    await mother.wait_for("Пришлите фото")
    pages = [
        diploma_photo(
            "ДИПЛОМ", "Иванов Пётр Сергеевич", ["призёр регионального этапа", "олимпиады по математике"]
        ),
        diploma_photo(
            "ДИПЛОМ", "Иванов Пётр Сергеевич", ["подписи жюри", "Министерство образования"], page=2
        ),
    ]
    mother.send_album([(page, "photo") for page in pages], caption="Региональный этап ВсОШ по математике")
    await mother.wait_for("Выберите категорию")
    mother.press("Предметная олимпиада")
    await mother.wait_for("Какого уровня")
    mother.press("региональный")
    await mother.wait_for("Какой результат")
    mother.press("призёр")
    await mother.wait_for("Напишите название")
    mother.press("Взять из подписи")
    await mother.wait_for("Когда было мероприятие")
    mother.press("Другая дата")
    await mother.wait_for("ДД.ММ.ГГГГ")
    mother.send_text("32.11.2026")
    await mother.wait_for("Такой даты нет")
    mother.send_text("21.11.2026")
    await mother.wait_for("Где получено")
    mother.press("в нашей школе")
    await mother.wait_for("Проверьте, всё ли верно")
    mother.press("✅ Подтвердить")
    await mother.wait_for("отправлено на проверку")

    demo.scene("Классный руководитель получает карточку в чате и одобряет")
    await teacher.wait_for("одобрить, отклонить или исправить", timeout=15)
    teacher.press("✅ Одобрить")
    await mother.wait_for("одобрено и добавлено в портфолио", timeout=15)

    demo.scene("Папа присылает размытое фото грамоты — его отклоняют с причиной")
    father.send_photo(diploma_photo("ГРАМОТА", "Смирнова Алиса", ["за участие"]))
    await father.wait_for("Чьё это достижение")
    father.press("Смирнова Алиса")
    await fill_wizard(
        father, "Интеллектуальный или творческий конкурс", "школьный", "участник", "Конкурс чтецов"
    )
    await teacher.wait_for("Смирнова Алиса", timeout=15)
    teacher.press("❌ Отклонить")
    await teacher.wait_for("нечитаемое фото")  # the card now offers the reasons
    teacher.press("нечитаемое фото")
    await father.wait_for("Причина: нечитаемое фото", timeout=15)


async def play_reward(demo: Demo, *, teacher: FakeUser, mother: FakeUser) -> None:
    demo.scene("Классный руководитель записывает поощрение за олимпиаду")
    teacher.send_text("🏅 Поощрить")
    await teacher.wait_for("Кого поощрить?")
    teacher.press("Иванов Пётр")
    await teacher.wait_for("Выберите вид поощрения")
    teacher.press("Похвальный лист")
    await teacher.wait_for("За что поощрение?")
    teacher.send_text("За призовое место в региональном этапе олимпиады по математике")
    await teacher.wait_for("Дата поощрения?")
    teacher.press("Сегодня")
    await teacher.wait_for("Номер приказа?")
    teacher.send_text("45-о")
    await teacher.wait_for("Связать поощрение с достижением")
    teacher.press("Региональный этап ВсОШ")
    await teacher.wait_for("Проверьте поощрение")
    teacher.press("💾 Сохранить")
    await teacher.wait_for("✅ Поощрение записано")
    await mother.wait_for("Поощрение: Похвальный лист", timeout=15)


async def play_portfolio(demo: Demo, *, pupil: FakeUser, father: FakeUser) -> None:
    demo.scene("Петя листает своё портфолио, открывает диплом и скачивает PDF")
    pupil.send_text("📚 Портфолио")
    await pupil.wait_for("Портфолио: Иванов Пётр")
    pupil.press("1. Региональный этап ВсОШ")
    await pupil.wait_for("📎 Достижение №", timeout=15)
    pupil.press("◀️ К списку")
    await pupil.wait_for("Портфолио: Иванов Пётр")
    pupil.press("📥 Скачать PDF")
    document = await pupil.wait_for("[document:", timeout=15)
    demo.save_document(document)

    demo.scene("Папа видит свою отклонённую заявку и причину")
    father.send_text("📚 Портфолио")
    await father.wait_for("Чьё портфолио открыть?")
    father.press("Смирнова Алиса")
    await father.wait_for("Портфолио: Смирнова Алиса")
    father.press("📝 Мои заявки")
    await father.wait_for("нечитаемое фото")


async def play_results_request(demo: Demo, *, mother: FakeUser, deputy: FakeUser) -> None:
    demo.scene("Мама запрашивает результаты сына (п. 6.4) и сразу получает выписку")
    mother.send_text("📄 Запросить результаты")
    await mother.wait_for("За какой период")  # one child: no need to ask whose
    mother.press("Текущий учебный год")
    extract = await mother.wait_for("по запросу от", timeout=15)
    demo.save_document(extract)

    demo.scene("Заместитель директора проверяет код с выписки")
    code = await demo.latest_verification_code()  # what the deputy reads off the printed extract
    deputy.send_text(f"/verify {code}")
    await deputy.wait_for("✅ Выписка", timeout=15)


async def play_digest(demo: Demo, *, director: FakeUser, deputy: FakeUser, teacher: FakeUser) -> None:
    demo.scene("Неделя закрывается: директор, заместитель и классный руководитель получают сводку")
    await demo.cli("digest", "--now", "--period", "this-week")  # what the Monday 08:00 job does
    for person in (director, deputy, teacher):
        demo.save_document(await person.wait_for("[document:", timeout=30))


async def play_admin_link(demo: Demo, *, director: FakeUser) -> None:
    demo.scene("Директор открывает веб-админку по одноразовой ссылке из бота")
    director.send_text("/admin")
    message = await director.wait_for("Ссылка для входа в веб-админку", timeout=15)
    link = _ADMIN_LINK.search(message.text or "")
    assert link, "the bot sent no sign-in link"
    demo.admin_link = link.group(0)


async def run_demo(output: Path, school_name: str, *, keep: bool = False) -> int:
    await asyncio.to_thread(output.mkdir, parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="portfolio-demo-"))
    async with TelegramServer() as server:
        demo = Demo(server, workdir, output, school_name)
        await asyncio.to_thread(upgrade_database, demo.settings.database_url)
        try:
            await asyncio.wait_for(play(demo), DEMO_TIMEOUT_SECONDS)
            if keep:
                await demo.keep_running()
        finally:
            await demo.stop_bot()
            demo.log.close()
    (output / "transcript.txt").write_text("\n".join(demo.said) + "\n", encoding="utf-8")
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nГотово. Листы приглашений, журнал бота и стенограмма: {output}/")
    return 0
