"""A synthetic school in a fresh SQLite database: the roster, people, invites and two years of records.

Rows go in with bulk inserts through the models' tables (the services would take minutes for 30,000
achievements); values follow what the services write, so the bot cannot tell the difference. Every
achievement has its evidence, as in a school: a page or two, all pointing at one stored photo (the bot
reads a file only to send it).
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageDraw

from bot.migrate import upgrade_database
from bot.services.invites import generate_code, hash_code
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    Consent,
    Counter,
    EvidenceFile,
    GuardianLink,
    Invite,
    SchoolClass,
    StaffAssignment,
    Student,
)
from models.enums import (
    AchievementStatus,
    ConsentDecision,
    GuardianLinkStatus,
    InvitePurpose,
    SchoolLevel,
    Source,
    StaffRole,
)

LETTERS = "АБВГДЕЖИ"
SURNAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов"]
NAMES = ["Пётр", "Алексей", "Илья", "Борис", "Никита", "Артём", "Матвей", "Кирилл"]
TEACHER_IDS_FROM = 5_000_001  # Telegram ids, one range per kind of person
GUARDIAN_IDS_FROM = 6_000_001
STAFF_IDS_FROM = 4_000_001
CONSENT_VERSION = "2026-01"
EVIDENCE_PATH = "bench/diploma.jpg"  # relative to MEDIA_DIR, shared by every achievement
STAR_ENTRIES = 200  # approved achievements of one student, for the 200-entry PDFs


@dataclass(frozen=True)
class SchoolSize:
    students: int = 2000
    classes: int = 80
    guardians: int = 3000
    achievements: int = 30_000  # approved, over the last two years
    onboarding_codes: int = 600  # unused guardian invites for people who join during the runs


@dataclass
class Guardian:
    telegram_id: int
    account_id: int
    student_id: int
    class_id: int


@dataclass
class SyntheticSchool:
    database_path: Path
    database_url: str
    class_teachers: dict[int, int]  # class id -> the class teacher's Telegram id
    guardians: list[Guardian]  # each linked to one child
    onboarding_codes: list[str]  # guardian invite codes nobody has used
    star_student_id: int  # has STAR_ENTRIES approved achievements
    media_dir: Path  # MEDIA_DIR for the bot: the evidence's photo is there
    counts: dict[str, int] = field(default_factory=dict)


def diploma(seed: int) -> bytes:
    """A phone-sized photo of a certificate, different for every seed (the bot spots repeats)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1024, 768), (252, 248, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 1004, 748), outline=(170, 130, 40), width=8)
    for row in range(12):
        y = 120 + row * 45
        draw.line((120, y, 120 + rng.randint(300, 780), y), fill=(40, 40, 40), width=6)
    draw.rectangle((800, 600, 960, 700), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def class_labels(count: int) -> list[tuple[int, str]]:
    """`count` classes spread over grades 1–11, parallels «А», «Б», … up to eight per grade."""
    per_grade = [count // 11 + (1 if grade < count % 11 else 0) for grade in range(11)]
    return [(grade + 1, LETTERS[i]) for grade, n in enumerate(per_grade) for i in range(n)]


def build_school(directory: Path, size: SchoolSize, seed: int = 7) -> SyntheticSchool:
    """Migrate a new database in `directory` and fill it. Synchronous: call it from a thread."""
    path = directory / "bench.sqlite3"
    async_url = f"sqlite+aiosqlite:///{path}"
    upgrade_database(async_url)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:

        def insert(model: type, rows: list[dict[str, object]]) -> None:
            if rows:
                connection.execute(sa.insert(model.__table__), rows)  # type: ignore[attr-defined]

        labels = class_labels(size.classes)
        insert(
            SchoolClass, [{"id": i + 1, "grade": g, "letter": letter} for i, (g, letter) in enumerate(labels)]
        )
        class_ids = list(range(1, len(labels) + 1))
        student_class = {sid: class_ids[(sid - 1) % len(class_ids)] for sid in range(1, size.students + 1)}
        insert(
            Student,
            [
                {
                    "id": sid,
                    "class_id": cid,
                    "surname": SURNAMES[sid % len(SURNAMES)],
                    "name": NAMES[(sid // len(SURNAMES)) % len(NAMES)],
                    "patronymic": "Сергеевич",
                    "external_id": f"EJ-{sid:05d}",
                }
                for sid, cid in student_class.items()
            ],
        )

        accounts: list[dict[str, object]] = []
        staff: list[dict[str, object]] = []
        class_teachers = {}
        for cid in class_ids:
            account_id = len(accounts) + 1
            telegram_id = TEACHER_IDS_FROM + cid
            accounts.append(_account(account_id, telegram_id, display_name=f"Учитель {cid}"))
            staff.append(
                {"account_id": account_id, "role": StaffRole.CLASS_TEACHER, "level": None, "class_id": cid}
            )
            class_teachers[cid] = telegram_id
        for n, (role, level) in enumerate(
            [(StaffRole.ADMIN, None), *((StaffRole.DEPUTY, level) for level in SchoolLevel)]
        ):
            account_id = len(accounts) + 1
            accounts.append(_account(account_id, STAFF_IDS_FROM + n, display_name=f"Сотрудник {n}"))
            staff.append({"account_id": account_id, "role": role, "level": level, "class_id": None})

        guardians = []
        links, consents = [], []
        for n in range(size.guardians):
            account_id = len(accounts) + 1
            student_id = n % size.students + 1
            accounts.append(_account(account_id, GUARDIAN_IDS_FROM + n, first_name="Родитель"))
            links.append(
                {
                    "account_id": account_id,
                    "student_id": student_id,
                    "status": GuardianLinkStatus.CONFIRMED,
                    "confirmed_at": now,
                }
            )
            consents.append(
                {
                    "account_id": account_id,
                    "student_id": student_id,
                    "version": CONSENT_VERSION,
                    "decision": ConsentDecision.GIVEN,
                }
            )
            guardians.append(
                Guardian(GUARDIAN_IDS_FROM + n, account_id, student_id, student_class[student_id])
            )
        insert(Account, accounts)
        insert(StaffAssignment, staff)
        insert(GuardianLink, links)
        insert(Consent, consents)

        codes = [generate_code() for _ in range(size.onboarding_codes)]
        insert(
            Invite,
            [
                {
                    "code_hash": hash_code(code),
                    "purpose": InvitePurpose.GUARDIAN,
                    "student_id": (n * 7) % size.students + 1,
                    "expires_at": now + timedelta(days=30),
                }
                for n, code in enumerate(codes)
            ],
        )

        star_student_id = 1
        achievements, changes, counters = _records(
            rng, size, star_student_id, class_teachers, student_class, now
        )
        insert(Achievement, achievements)
        insert(EvidenceFile, _evidence(directory / "media", len(achievements)))
        insert(AchievementStatusChange, changes)
        insert(Counter, [{"name": f"achievement:{year}", "value": value} for year, value in counters.items()])
    engine.dispose()
    return SyntheticSchool(
        database_path=path,
        database_url=async_url,
        class_teachers=class_teachers,
        guardians=guardians,
        onboarding_codes=codes,
        star_student_id=star_student_id,
        media_dir=directory / "media",
        counts={
            "classes": len(labels),
            "students": size.students,
            "guardians": size.guardians,
            "class_teachers": len(class_teachers),
            "approved_achievements": len(achievements),
        },
    )


def _evidence(media_dir: Path, achievements: int) -> list[dict[str, object]]:
    """One or two pages of evidence per achievement, one photo stored under MEDIA_DIR for them all."""
    photo = diploma(0)
    stored = media_dir / EVIDENCE_PATH
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(photo)
    digest = hashlib.sha256(photo).hexdigest()
    return [
        {
            "achievement_id": n,
            "position": position,
            "path": EVIDENCE_PATH,
            "sha256": digest,
            "original_sha256": digest,
            "mime_type": "image/jpeg",
            "size": len(photo),
        }
        for n in range(1, achievements + 1)
        for position in range(1 + n % 2)
    ]


def _account(
    account_id: int, telegram_id: int, *, first_name: str = "", display_name: str = ""
) -> dict[str, object]:
    return {
        "id": account_id,
        "telegram_id": telegram_id,
        "first_name": first_name,
        "display_name": display_name,
    }


def _records(
    rng: random.Random,
    size: SchoolSize,
    star_student_id: int,
    class_teachers: dict[int, int],
    student_class: dict[int, int],
    now: datetime,
) -> tuple[list[dict[str, object]], list[dict[str, object]], dict[int, int]]:
    """Approved achievements over two years (the star student's 200 among them) and their approvals."""
    categories, levels, results = list(Category), list(AchievementLevel), list(AchievementResult)[:4]
    teacher_account = {cid: n + 1 for n, cid in enumerate(class_teachers)}  # accounts were made in order
    counters: dict[int, int] = {}
    achievements, changes = [], []
    for n in range(size.achievements):
        student_id = star_student_id if n < STAR_ENTRIES else rng.randint(star_student_id + 1, size.students)
        event_date: date = (now - timedelta(days=rng.randint(3, 730))).date()
        created = datetime.combine(event_date, datetime.min.time(), UTC) + timedelta(days=rng.randint(0, 3))
        decided = created + timedelta(hours=rng.randint(1, 72))
        counters[created.year] = counters.get(created.year, 0) + 1
        reviewer = teacher_account[student_class[student_id]]
        achievements.append(
            {
                "id": n + 1,
                "number": f"{created.year}-{counters[created.year]:04d}",
                "student_id": student_id,
                "category": rng.choice(categories),
                "level": rng.choice(levels),
                "result": rng.choice(results),
                "title": f"Олимпиада по математике, этап {n % 7 + 1}",
                "event_date": event_date,
                "source": Source.OUR_SCHOOL if n % 5 else Source.OTHER_ORG,
                "status": AchievementStatus.APPROVED,
                "decided_by_account_id": reviewer,
                "decided_at": decided,
                "created_at": created,
                "updated_at": decided,
            }
        )
        changes.append(
            {
                "achievement_id": n + 1,
                "from_status": AchievementStatus.PENDING,
                "to_status": AchievementStatus.APPROVED,
                "actor_account_id": reviewer,
                "at": decided,
            }
        )
    return achievements, changes, counters
