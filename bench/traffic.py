"""What people do in the throughput run: each function plays one person, one step at a time.

A step sends one update and waits for the bot's answer before the next (what a person on a phone does),
so a chat never has more than one update in flight. Every update a person sends is noted by kind, so
the echo run can replay the same updates.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.school import SyntheticSchool, diploma
from bench.server import BenchServer, BenchUser
from tests.telegram_server import StoredMessage

# Per step. With 2,000 people at once every step waits behind the others' (minutes at 20 updates/s):
# a timeout means an update was lost or never answered, not that the bot was slow.
TIMEOUT = 900.0
OLYMPIAD = "Предметная олимпиада"


@dataclass
class Person:
    """One person of the run: who they are on the server, what they do, and what they sent."""

    user: BenchUser
    play: Callable[[BenchUser], Awaitable[None]]


# -- the people ---------------------------------------------------------------------------------------------


def newcomer(code: str) -> Callable[[BenchUser], Awaitable[None]]:
    """A parent who got a code at the parent meeting: joins, accepts the consent, looks at the menu."""

    async def play(user: BenchUser) -> None:
        user.send_text(f"/start {code}")
        await user.wait_for("Согласие на обработку", TIMEOUT)
        user.press("✅ Принимаю")
        await user.wait_for("Выберите действие в меню", TIMEOUT)
        user.send_text("👨‍👩‍👧 Мои дети")
        await user.wait_for("Ваши дети", TIMEOUT)

    return play


async def browser(user: BenchUser) -> None:
    """A linked parent who opens the bot, looks at the children and the help, and the portfolio."""
    user.send_text("/start")
    await user.wait_for("Выберите действие в меню", TIMEOUT)
    user.send_text("👨‍👩‍👧 Мои дети")
    await user.wait_for("Ваши дети", TIMEOUT)
    user.send_text("❓ Помощь")
    await user.next_message(TIMEOUT)
    await portfolio_pages(user)


async def portfolio_pages(user: BenchUser) -> None:
    """Browse the child's portfolio: the first page, the next one when there is one, and one achievement.

    Every update sent here is counted and replayed to the echo bot automatically."""
    user.send_text("📚 Портфолио")
    page = await user.wait_for("Портфолио:", TIMEOUT)
    labels = [text for row in page.buttons for text in row]
    if "▶️" in labels:
        pressed = user.press("▶️", page)
        await user.wait_answer(pressed.id, TIMEOUT)
        page = await user.wait_for("стр. 2", TIMEOUT)
        labels = [text for row in page.buttons for text in row]
    item = next((text for text in labels if text[:1].isdigit()), None)
    if item is not None:
        pressed = user.press(item, page)
        await user.wait_answer(pressed.id, TIMEOUT)
        await user.wait_for("Достижение №", TIMEOUT)


def submitter(photo: bytes) -> Callable[[BenchUser], Awaitable[None]]:
    """A parent who sends a diploma through the whole wizard."""

    async def play(user: BenchUser) -> None:
        user.send_text("➕ Добавить достижение")
        await user.wait_for("Пришлите фото", TIMEOUT)
        user.send_photo(photo)
        for expected, answer in (
            ("Выберите категорию", OLYMPIAD),
            ("Какого уровня", "региональный"),
            ("Какой результат", "призёр"),
        ):
            await user.wait_for(expected, TIMEOUT)
            user.press(answer)
        await user.wait_for("Напишите название", TIMEOUT)
        user.send_text("Региональный этап ВсОШ по математике")
        for expected, answer in (
            ("Когда было мероприятие", "Сегодня"),
            ("Где получено", "в нашей школе"),
            ("Проверьте, всё ли верно", "✅ Подтвердить"),
        ):
            await user.wait_for(expected, TIMEOUT)
            user.press(answer)
        await user.wait_for("отправлено на проверку", TIMEOUT)

    return play


def reviewer(cards: int) -> Callable[[BenchUser], Awaitable[None]]:
    """A class teacher who approves each review card as it arrives (`cards` of them)."""

    def is_card(message: StoredMessage) -> bool:
        return not message.edited and "✅ Одобрить" in str(message.buttons)

    async def play(user: BenchUser) -> None:
        for _ in range(cards):
            card = await user.wait_for(is_card, TIMEOUT)
            pressed = user.press("✅ Одобрить", message=card)
            await user.wait_answer(pressed.id, TIMEOUT)

    return play


# -- a cast for a run -------------------------------------------------------------------------------------


@dataclass
class Mix:
    """Shares of the people in a run (the rest browse)."""

    newcomers: float = 0.2
    submitters: float = 0.25


@dataclass
class Cast:
    people: list[Person]  # played under the concurrency limit
    reviewers: list[Person]  # class teachers: wait for cards, not limited


class Casting:
    """Hands out people of the synthetic school, each once, across the runs of one benchmark."""

    def __init__(self, school: SyntheticSchool, seed: int = 11) -> None:
        self.school = school
        self._guardians = iter(school.guardians)
        self._codes = iter(school.onboarding_codes)
        self._newcomer_ids = iter(range(9_000_001, 10_000_000))
        self._photo_seeds = iter(range(1, 1_000_000))
        self._rng = random.Random(seed)

    def cast(self, server: BenchServer, users: int, mix: Mix) -> Cast:
        n_new, n_submit = round(users * mix.newcomers), round(users * mix.submitters)
        roles = ["newcomer"] * n_new + ["submitter"] * n_submit + ["browser"] * (users - n_new - n_submit)
        self._rng.shuffle(roles)
        people: list[Person] = []
        cards: dict[int, int] = {}
        for role in roles:
            if role == "newcomer":
                user = server.bench_user(next(self._newcomer_ids), "Новый родитель")
                people.append(Person(user, newcomer(next(self._codes))))
                continue
            guardian = next(self._guardians)
            user = server.bench_user(guardian.telegram_id, "Родитель")
            if role == "submitter":
                cards[guardian.class_id] = cards.get(guardian.class_id, 0) + 1
                people.append(Person(user, submitter(diploma(next(self._photo_seeds)))))
            else:
                people.append(Person(user, browser))
        reviewers = [
            Person(
                server.bench_user(self.school.class_teachers[class_id], "Учитель", started=True), reviewer(n)
            )
            for class_id, n in cards.items()
        ]
        return Cast(people, reviewers)
