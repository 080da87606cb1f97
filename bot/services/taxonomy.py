"""The vocabularies of the regulation (section 3): categories, levels, results, reject reasons, rewards.

Values are short ASCII strings: they travel in callback data and are stored in the database. What people
read comes from `label()`, through the catalogs.
"""

from __future__ import annotations

from enum import StrEnum

from babel.support import LazyProxy

from bot.i18n_text import _
from models.enums import AchievementStatus, Source


def __(message: str) -> LazyProxy:
    """`lazy_gettext` that falls back to the Russian message id outside an I18n context (CLI, jobs, PDFs)."""
    return LazyProxy(_, message, enable_cache=False)


class Category(StrEnum):
    """Kinds of achievement (regulation 3.2)."""

    OLYMPIAD = "olympiad"
    CONTEST = "contest"
    PROJECT = "project"
    CONFERENCE = "conference"
    SPORT = "sport"
    GTO = "gto"
    ELITE_SPORT = "elite_sport"
    ADDITIONAL_EDUCATION = "additional_education"
    VOLUNTEERING = "volunteering"
    SELF_GOVERNMENT = "self_government"


class AchievementLevel(StrEnum):
    """Level of the event, lowest first."""

    SCHOOL = "school"
    MUNICIPAL = "municipal"
    REGIONAL = "regional"
    INTERREGIONAL = "interregional"
    NATIONAL = "national"
    INTERNATIONAL = "international"


class AchievementResult(StrEnum):
    WINNER = "winner"
    PRIZE_WINNER = "prize_winner"
    LAUREATE = "laureate"
    PARTICIPANT = "participant"
    # Знаки отличия ГТО.
    GTO_GOLD = "gto_gold"
    GTO_SILVER = "gto_silver"
    GTO_BRONZE = "gto_bronze"


class RejectReason(StrEnum):
    UNREADABLE = "unreadable"
    WRONG_STUDENT = "wrong_student"
    NOT_PROOF = "not_proof"
    DUPLICATE = "duplicate"
    OTHER = "other"  # the reviewer types the reason


class RewardKind(StrEnum):
    """Kinds of reward (поощрение, regulation 3.3), in the order the wizard offers them."""

    GRATITUDE = "gratitude"
    CERTIFICATE = "certificate"
    COMMENDATION = "commendation"
    PARENTS_LETTER = "parents_letter"
    GIFT = "gift"
    HONOUR_BOARD = "honour_board"


_GENERAL_RESULTS = (
    AchievementResult.WINNER,
    AchievementResult.PRIZE_WINNER,
    AchievementResult.LAUREATE,
    AchievementResult.PARTICIPANT,
)
_GTO_RESULTS = (AchievementResult.GTO_GOLD, AchievementResult.GTO_SILVER, AchievementResult.GTO_BRONZE)
# Elite sport status (regulation 3.2.2) is being a champion or a medallist: taking part is not a status.
_ELITE_SPORT_RESULTS = (AchievementResult.WINNER, AchievementResult.PRIZE_WINNER)

# Regulation 4.3.1: the gifted-students bank and the digests' «notable results».
_NOTABLE_LEVELS = frozenset(
    {
        AchievementLevel.REGIONAL,
        AchievementLevel.INTERREGIONAL,
        AchievementLevel.NATIONAL,
        AchievementLevel.INTERNATIONAL,
    }
)
_NOTABLE_RESULTS = frozenset({AchievementResult.WINNER, AchievementResult.PRIZE_WINNER})

_LABELS: dict[StrEnum, LazyProxy] = {
    Category.OLYMPIAD: __("Предметная олимпиада"),
    Category.CONTEST: __("Интеллектуальный или творческий конкурс"),
    Category.PROJECT: __("Проектная или исследовательская работа"),
    Category.CONFERENCE: __("Научно-практическая конференция"),
    Category.SPORT: __("Спортивное соревнование"),
    Category.GTO: __("Нормы ГТО"),
    Category.ELITE_SPORT: __("Спортивный статус: чемпион или призёр Олимпийских игр, мира, Европы"),
    Category.ADDITIONAL_EDUCATION: __("Дополнительное образование"),
    Category.VOLUNTEERING: __("Волонтёрская деятельность"),
    Category.SELF_GOVERNMENT: __("Ученическое самоуправление"),
    AchievementLevel.SCHOOL: __("школьный"),
    AchievementLevel.MUNICIPAL: __("муниципальный"),
    AchievementLevel.REGIONAL: __("региональный"),
    AchievementLevel.INTERREGIONAL: __("межрегиональный"),
    AchievementLevel.NATIONAL: __("всероссийский"),
    AchievementLevel.INTERNATIONAL: __("международный"),
    AchievementResult.WINNER: __("победитель"),
    AchievementResult.PRIZE_WINNER: __("призёр"),
    AchievementResult.LAUREATE: __("лауреат"),
    AchievementResult.PARTICIPANT: __("участник"),
    AchievementResult.GTO_GOLD: __("золотой знак отличия"),
    AchievementResult.GTO_SILVER: __("серебряный знак отличия"),
    AchievementResult.GTO_BRONZE: __("бронзовый знак отличия"),
    RejectReason.UNREADABLE: __("нечитаемое фото"),
    RejectReason.WRONG_STUDENT: __("не тот ученик"),
    RejectReason.NOT_PROOF: __("не подтверждает достижение"),
    RejectReason.DUPLICATE: __("дубликат"),
    RejectReason.OTHER: __("другое"),
    RewardKind.GRATITUDE: __("Благодарность"),
    RewardKind.CERTIFICATE: __("Грамота"),
    RewardKind.COMMENDATION: __("Похвальный лист"),
    RewardKind.PARENTS_LETTER: __("Благодарственное письмо родителям"),
    RewardKind.GIFT: __("Ценный подарок"),
    RewardKind.HONOUR_BOARD: __("Занесение на доску почёта"),
    Source.OUR_SCHOOL: __("в нашей школе"),
    Source.OTHER_ORG: __("в другой организации"),
    AchievementStatus.PENDING: __("на проверке"),
    AchievementStatus.APPROVED: __("одобрено"),
    AchievementStatus.REJECTED: __("отклонено"),
    AchievementStatus.WITHDRAWN: __("отозвано"),
}


def label(value: StrEnum) -> str:
    """The human name of a vocabulary value in the current language."""
    return str(_LABELS[value])


def label_or_value(enum: type[StrEnum], value: str) -> str:
    """A stored value's label, or the value itself when the vocabulary no longer knows it."""
    try:
        return label(enum(value))
    except (ValueError, KeyError):
        return value


def reward_kind_label(value: str) -> str:
    """A stored reward kind for people: its label, or the stored value itself if it is not one we know."""
    return label_or_value(RewardKind, value)


def results_for(category: Category) -> tuple[AchievementResult, ...]:
    """The results a category allows, in the order the wizard shows them."""
    if category == Category.GTO:
        return _GTO_RESULTS
    if category == Category.ELITE_SPORT:
        return _ELITE_SPORT_RESULTS
    return _GENERAL_RESULTS


def reject_reason_text(reason: str) -> str:
    """A stored reject reason for people: a listed reason's label, or the text the reviewer typed."""
    try:
        return label(RejectReason(reason))
    except ValueError:
        return reason


def is_notable(level: AchievementLevel | str, result: AchievementResult | str) -> bool:
    """A regional-or-higher win or prize (regulation 4.3.1: the gifted-students bank, the digests)."""
    return level in _NOTABLE_LEVELS and result in _NOTABLE_RESULTS
