"""Texts shared by several handlers: role names, the consent text, the student's own card, the answer to
the family of a student who left."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from models.enums import SchoolLevel, StaffRole


def level_name(level: SchoolLevel) -> str:
    return {
        SchoolLevel.NOO: _("начальное общее образование (1–4 классы)"),
        SchoolLevel.OOO: _("основное общее образование (5–9 классы)"),
        SchoolLevel.SOO: _("среднее общее образование (10–11 классы)"),
    }[level]


def role_name(role: StaffRole, level: SchoolLevel | None = None, class_label: str = "") -> str:
    if role == StaffRole.ADMIN:
        return _("администратор")
    if role == StaffRole.DEPUTY and level is not None:
        return _("заместитель директора, {level}").format(level=level_name(level))
    if role == StaffRole.CLASS_TEACHER:
        return _("классный руководитель {class_label}").format(class_label=class_label)
    return _("педагог")


def consent_text(student_name: str, class_label: str, version: str, is_student: bool) -> str:
    """The consent to the processing of personal data (152-ФЗ); names arrive already escaped."""
    who = (
        _("Вы подключаетесь как ученик: <b>{name}</b>, {class_label} класс.")
        if is_student
        else _(
            "Вы подключаетесь как родитель (законный представитель) ученика: <b>{name}</b>, {class_label} класс."
        )
    ).format(name=student_name, class_label=class_label)
    return "\n\n".join(
        [
            who,
            _("<b>Согласие на обработку персональных данных</b> (редакция {version})").format(
                version=version
            ),
            _(
                "Я даю согласие школе на обработку моих персональных данных (фамилия, имя, отчество, класс, "
                "сведения о достижениях и поощрениях, копии подтверждающих документов, имя и идентификатор "
                "в Telegram) для учёта моих достижений и поощрений в соответствии с Федеральным законом "
                "№ 152-ФЗ «О персональных данных». Мои родители (законные представители) тоже могут дать или "
                "отозвать это согласие."
            )
            if is_student
            else _(
                "Я даю согласие школе на обработку персональных данных ребёнка (фамилия, имя, отчество, класс, "
                "сведения о достижениях и поощрениях, копии подтверждающих документов) и моих данных в Telegram "
                "(имя и идентификатор) для ведения индивидуального учёта результатов освоения образовательных "
                "программ и поощрений обучающихся в соответствии с Федеральным законом № 152-ФЗ "
                "«О персональных данных»."
            ),
            _(
                "Данные видят только ребёнок, его законные представители и работники школы, которым они нужны "
                "по должности. Каждый просмотр и изменение записываются в журнал. Согласие можно отозвать "
                "в любой момент в боте; после отзыва обработка прекращается."
            ),
            _("Нажмите «Принимаю», чтобы продолжить, или «Не принимаю», чтобы отказаться."),
        ]
    )


def own_card_text(student_name: str, class_label: str) -> str:
    """The student's «Мой профиль» card, with the way to withdraw their consent; names already escaped."""
    return "\n\n".join(
        [
            _("Вы: <b>{name}</b>, {class_label} класс.").format(name=student_name, class_label=class_label),
            _(
                "Вы дали согласие на обработку своих персональных данных в боте. Его можно отозвать "
                "кнопкой ниже."
            ),
        ]
    )


def student_gone_text() -> str:
    """To a student, or a guardian, whose (only) student left or graduated and whose data will be destroyed."""
    return _(
        "Ученик больше не числится в школе (выбыл или окончил её), поэтому портфолио и выписки в боте "
        "недоступны. Если это ошибка, обратитесь к классному руководителю."
    )
