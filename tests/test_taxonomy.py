"""The regulation's vocabularies: values fit callback data and the database, labels are translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n

from bot.services.taxonomy import (
    AchievementLevel,
    AchievementResult,
    Category,
    RejectReason,
    is_notable,
    label,
    reject_reason_text,
    results_for,
)
from models.enums import AchievementStatus, Source

LOCALES = Path(__file__).resolve().parent.parent / "locales"
VOCABULARIES = (Category, AchievementLevel, AchievementResult, RejectReason)


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
def test_values_are_short_ascii_for_callback_data_and_the_database(vocabulary: type) -> None:
    for value in vocabulary:
        assert value.isascii() and len(value) <= 32, value


def test_every_value_has_a_russian_label_without_an_i18n_context() -> None:
    for vocabulary in (*VOCABULARIES, Source, AchievementStatus):
        for value in vocabulary:
            text = label(value)
            assert text and not text.isascii(), value
    assert label(Category.GTO) == "Нормы ГТО"
    assert label(AchievementLevel.NATIONAL) == "всероссийский"


def test_labels_follow_the_current_language() -> None:
    i18n = I18n(path=LOCALES, default_locale="ru", domain="messages")
    with i18n.context(), i18n.use_locale("ru"):
        assert label(AchievementResult.PRIZE_WINNER) == "призёр"


def test_the_regulation_lists_ten_categories_and_six_levels_lowest_first() -> None:
    assert len(Category) == 10
    assert [label(level) for level in AchievementLevel] == [
        "школьный",
        "муниципальный",
        "региональный",
        "межрегиональный",
        "всероссийский",
        "международный",
    ]


def test_gto_has_badges_instead_of_places() -> None:
    assert results_for(Category.GTO) == (
        AchievementResult.GTO_GOLD,
        AchievementResult.GTO_SILVER,
        AchievementResult.GTO_BRONZE,
    )
    assert AchievementResult.GTO_GOLD not in results_for(Category.OLYMPIAD)
    assert results_for(Category.OLYMPIAD) == (
        AchievementResult.WINNER,
        AchievementResult.PRIZE_WINNER,
        AchievementResult.LAUREATE,
        AchievementResult.PARTICIPANT,
    )


def test_elite_sport_status_means_a_champion_or_a_medallist() -> None:
    assert results_for(Category.ELITE_SPORT) == (AchievementResult.WINNER, AchievementResult.PRIZE_WINNER)


@pytest.mark.parametrize(
    ("level", "result", "notable"),
    [
        (AchievementLevel.REGIONAL, AchievementResult.WINNER, True),
        (AchievementLevel.INTERNATIONAL, AchievementResult.PRIZE_WINNER, True),
        ("national", "prize_winner", True),  # as stored in the database
        (AchievementLevel.MUNICIPAL, AchievementResult.WINNER, False),
        (AchievementLevel.NATIONAL, AchievementResult.PARTICIPANT, False),
        (AchievementLevel.REGIONAL, AchievementResult.LAUREATE, False),
        (AchievementLevel.NATIONAL, AchievementResult.GTO_GOLD, False),
    ],
)
def test_notable_results_are_regional_or_higher_wins_and_prizes(
    level: AchievementLevel, result: AchievementResult, notable: bool
) -> None:
    assert is_notable(level, result) is notable


def test_a_stored_reject_reason_reads_as_its_label_or_as_typed() -> None:
    assert reject_reason_text(RejectReason.UNREADABLE) == "нечитаемое фото"
    assert reject_reason_text("Диплом другой школы") == "Диплом другой школы"
