"""Every bot handler is listed here with the access check that guards it, or says why it needs none.

A new handler fails `test_every_handler_is_listed` until a row is added to HANDLERS: either
`guarded(Action.X, ...)` — the handler (or the helper it calls) asks `bot.services.access` about X on
every update, callback data never trusted — or `no_child_data("why")` for what shows or changes no
child's data (help, language, the person's own draft...). The policy itself is tested in
tests/test_access_matrix.py.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from aiogram import Router

import handlers
from bot.services.access import Action


@dataclass(frozen=True)
class Guarded:
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class NoChildData:
    reason: str


def guarded(*actions: Action) -> Guarded:
    return Guarded(actions)


def no_child_data(reason: str) -> NoChildData:
    return NoChildData(reason)


DRAFT = "a step of the person's own draft; the student is checked at the child step and again at confirm"
GROUP = "group chats: a refusal, nothing shown"
INVITE = "onboarding: the invite code is the authority, checked and audited by services/onboarding.py"

HANDLERS: dict[str, Guarded | NoChildData] = {
    # groups
    "handlers.groups.on_code_in_group": no_child_data(GROUP + "; an exposed invite code is revoked"),
    "handlers.groups.on_group_command": no_child_data(GROUP),
    "handlers.groups.on_group_chatter": no_child_data(GROUP),
    "handlers.groups.on_group_button": no_child_data(GROUP),
    # start
    "handlers.start.cmd_start_with_code": no_child_data(INVITE),
    "handlers.start.cmd_start": no_child_data("greeting and the menu"),
    "handlers.start.on_code_typed": no_child_data(INVITE),
    "handlers.start.on_code_not_text": no_child_data("asks for the code again"),
    "handlers.start.on_message_during_consent": no_child_data("asks to answer the consent question"),
    "handlers.start.cb_consent": no_child_data(INVITE + " (the invite id from the dialogue state)"),
    "handlers.start.cb_consent_stale": no_child_data("a stale button"),
    # submission
    "handlers.submission.cmd_submit": guarded(Action.SUBMIT),
    "handlers.submission.on_file_from_menu": guarded(Action.SUBMIT),
    "handlers.submission.cmd_cancel": no_child_data(DRAFT),
    "handlers.submission.cb_cancel": no_child_data(DRAFT),
    "handlers.submission.cb_back": no_child_data(DRAFT),
    "handlers.submission.on_menu_during_wizard": no_child_data(DRAFT),
    "handlers.submission.cb_class": guarded(Action.SUBMIT),
    "handlers.submission.cb_pick": guarded(Action.SUBMIT),
    "handlers.submission.cb_picked": guarded(Action.SUBMIT),
    "handlers.submission.cb_child": guarded(Action.SUBMIT),
    "handlers.submission.on_album_page": no_child_data(DRAFT),
    "handlers.submission.on_evidence": no_child_data(DRAFT),
    "handlers.submission.on_not_evidence": no_child_data(DRAFT),
    "handlers.submission.cb_choice": no_child_data(DRAFT),
    "handlers.submission.on_title": no_child_data(DRAFT),
    "handlers.submission.cb_title_from_caption": no_child_data(DRAFT),
    "handlers.submission.on_title_not_text": no_child_data(DRAFT),
    "handlers.submission.cb_date": no_child_data(DRAFT),
    "handlers.submission.on_date_typed": no_child_data(DRAFT),
    "handlers.submission.on_date_not_text": no_child_data(DRAFT),
    "handlers.submission.cb_confirm": guarded(Action.SUBMIT),
    "handlers.submission.cb_withdraw": guarded(Action.WITHDRAW),
    "handlers.submission.on_anything_else": no_child_data(DRAFT),
    # review
    "handlers.review.cb_approve": guarded(Action.REVIEW),
    "handlers.review.cb_reject": guarded(Action.REVIEW),
    "handlers.review.cb_reason": guarded(Action.REVIEW),
    "handlers.review.cb_correct": guarded(Action.REVIEW),
    "handlers.review.cb_field": guarded(Action.REVIEW),
    "handlers.review.cb_value": guarded(Action.REVIEW),
    "handlers.review.cb_back": guarded(Action.REVIEW),
    "handlers.review.cmd_pending": guarded(Action.REVIEW),
    "handlers.review.cb_pending_page": guarded(Action.REVIEW),
    "handlers.review.cb_open": guarded(Action.REVIEW),
    "handlers.review.cmd_cancel": guarded(Action.REVIEW),
    "handlers.review.on_reason_typed": guarded(Action.REVIEW),
    "handlers.review.on_title_typed": guarded(Action.REVIEW),
    "handlers.review.on_date_typed": guarded(Action.REVIEW),
    "handlers.review.on_not_text": no_child_data("asks for text while a reason or correction is typed"),
    # results requests and verification
    "handlers.requests.cmd_request": guarded(Action.REQUEST_EXTRACT),
    "handlers.requests.cb_cancel": no_child_data("leaves the request dialogue"),
    "handlers.requests.cb_back": no_child_data(
        "lists the person's own children again (principal.children); the choice is checked by cb_child"
    ),
    "handlers.requests.cb_child": guarded(Action.REQUEST_EXTRACT),
    "handlers.requests.cb_scope": guarded(Action.REQUEST_EXTRACT),
    "handlers.requests.cmd_verify": guarded(Action.VERIFY),
    "handlers.requests.cmd_start_verify": guarded(Action.VERIFY),
    "handlers.requests.on_code": guarded(Action.VERIFY),
    # portfolio
    "handlers.portfolio.cmd_portfolio": guarded(Action.VIEW_PORTFOLIO),
    "handlers.portfolio.cb_kids": no_child_data(
        "the guardian's own children to choose from (principal.children)"
    ),
    "handlers.portfolio.cb_page": guarded(Action.VIEW_PORTFOLIO),
    "handlers.portfolio.cb_mine": guarded(Action.VIEW_PORTFOLIO),
    "handlers.portfolio.cb_item": guarded(Action.VIEW_EVIDENCE),
    "handlers.portfolio.cb_pdf": guarded(Action.VIEW_PORTFOLIO),
    # consent
    "handlers.consent.cb_open": guarded(Action.WITHDRAW_CONSENT),
    "handlers.consent.cb_ask": guarded(Action.WITHDRAW_CONSENT),
    "handlers.consent.cb_confirm": guarded(Action.WITHDRAW_CONSENT),
    # rewards
    "handlers.rewards.cmd_reward": guarded(Action.REWARD, Action.VIEW_CLASS),
    "handlers.rewards.cmd_cancel": no_child_data("leaves the reward dialogue"),
    "handlers.rewards.cb_cancel": no_child_data("leaves the reward dialogue"),
    "handlers.rewards.cb_back": guarded(Action.VIEW_CLASS),
    "handlers.rewards.on_menu_during_wizard": no_child_data("a hint to finish or cancel the dialogue"),
    "handlers.rewards.on_text_instead_of_button": no_child_data("a hint to use the buttons"),
    "handlers.rewards.on_not_text": no_child_data("a hint to type text"),
    "handlers.rewards.cb_class": guarded(Action.VIEW_CLASS),
    "handlers.rewards.cb_page": guarded(Action.VIEW_CLASS),
    "handlers.rewards.cb_student": guarded(Action.REWARD),
    "handlers.rewards.cb_kind": guarded(Action.REWARD),
    "handlers.rewards.cb_reason_preset": guarded(Action.REWARD),
    "handlers.rewards.on_reason": guarded(Action.REWARD),
    "handlers.rewards.cb_date": guarded(Action.REWARD),
    "handlers.rewards.on_date": guarded(Action.REWARD),
    "handlers.rewards.cb_no_order": guarded(Action.REWARD),
    "handlers.rewards.on_order": guarded(Action.REWARD),
    "handlers.rewards.cb_achievement": guarded(Action.REWARD),
    "handlers.rewards.cb_save": guarded(Action.REWARD),
    # admin_link
    "handlers.admin_link.cmd_admin": guarded(Action.USE_ADMIN),
    # common
    "handlers.common.cmd_help": no_child_data("help text for the person's roles"),
    "handlers.common.cmd_cancel": no_child_data("clears the dialogue state"),
    "handlers.common.cmd_lang": no_child_data("language choice"),
    "handlers.common.cb_language": no_child_data("the person's own language"),
    "handlers.common.on_children": no_child_data(
        "the guardian's own confirmed links to active children (principal.children): names and classes"
    ),
    "handlers.common.on_profile": no_child_data(
        "the student's own name and class (principal.own_student_id)"
    ),
    "handlers.common.on_my_class": guarded(Action.VIEW_CLASS),
    "handlers.common.on_coverage": guarded(Action.VIEW_CLASS),
    "handlers.common.on_blocked": no_child_data("marks the person's account unreachable"),
    # fallback
    "handlers.fallback.on_anything": no_child_data("a polite answer"),
    "handlers.fallback.on_stale_button": no_child_data("a stale button"),
}

# What a handler module must call for each Action it claims (or `Action.X` given to `is_allowed`).
CHECKS: dict[Action, tuple[str, ...]] = {
    Action.VIEW_CLASS: ("may_view_class", "classes_in_scope"),
    Action.VIEW_PORTFOLIO: ("may_view_portfolio", "portfolio_views.open_portfolio"),
    Action.VIEW_EVIDENCE: ("may_view_achievement", "portfolio_views.open_achievement"),
    Action.SUBMIT: ("may_submit_for",),
    Action.REVIEW: ("may_review",),
    Action.WITHDRAW: ("may_withdraw",),
    Action.REWARD: ("may_reward", "rewards.rewardable", "rewards.grant_reward"),
    Action.REQUEST_EXTRACT: ("may_request_extract",),
    Action.WITHDRAW_CONSENT: ("may_withdraw_consent", "withdraw_consent"),
    Action.VERIFY: ("may_verify_extract",),
    Action.EXPORT: ("may_export", "may_export_class", "levels_in_scope"),
    Action.MANAGE_ROSTER: ("may_manage_roster",),
    Action.VIEW_AUDIT_LOG: ("may_view_audit_log",),
    Action.USE_ADMIN: ("may_use_admin",),
}


def _routers(router: Router) -> Iterator[Router]:
    yield router
    for sub in router.sub_routers:
        yield from _routers(sub)


def registered() -> dict[str, list[str]]:
    """`module.qualname` of every handler callback → the observers (message, callback_query...) it is on."""
    found: dict[str, list[str]] = {}
    for top in handlers.routers():
        for router in _routers(top):
            for observer_name, observer in router.observers.items():
                for handler in getattr(observer, "handlers", []):
                    callback = handler.callback
                    name = f"{callback.__module__}.{callback.__qualname__}"
                    found.setdefault(name, []).append(f"{router.name}.{observer_name}")
    return found


def test_handlers_are_found() -> None:
    found = registered()
    assert "handlers.review.cb_approve" in found and "handlers.common.cmd_help" in found
    assert found["handlers.review.cmd_pending"] == ["review.message", "review.message"]


def test_every_handler_is_listed() -> None:
    missing = sorted(set(registered()) - HANDLERS.keys())
    assert not missing, (
        "These handlers are not in HANDLERS of tests/test_handler_access.py. Add a row for each: "
        "guarded(Action.X) naming the access check it calls on every update, or "
        f"no_child_data('why') if it shows or changes no child's data: {missing}"
    )


def test_no_row_for_a_handler_that_is_gone() -> None:
    stale = sorted(HANDLERS.keys() - set(registered()))
    assert not stale, f"remove these rows from HANDLERS (no such handler any more): {stale}"


def test_every_action_has_a_check_and_reasons_are_given() -> None:
    assert set(CHECKS) == set(Action)
    for name, entry in HANDLERS.items():
        if isinstance(entry, Guarded):
            assert entry.actions, name
        else:
            assert len(entry.reason) > 10, f"say why {name} needs no access check"


def test_a_guarded_handlers_module_calls_the_check_it_claims() -> None:
    """A cheap guard against a wrong row: the module must at least call the policy for that Action."""
    wrong = []
    for name, entry in HANDLERS.items():
        if not isinstance(entry, Guarded):
            continue
        module_name = name.rsplit(".", 1)[0]
        source = inspect.getsource(sys.modules[module_name])
        for action in entry.actions:
            names = CHECKS[action]
            if not any(f"{check}(" in source for check in names) and f"Action.{action.name}" not in source:
                wrong.append(f"{name}: {module_name} never calls {' / '.join(names)}")
    assert not wrong, "\n".join(wrong)
