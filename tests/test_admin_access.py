"""Every route of the web admin × every role: who gets the page, who is sent to sign in, who is refused,
and that a deputy never sees another level's children. A new route without an expectation fails here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute, Mount, Route

from admin.app import create_app
from models import DigestDelivery, EvidenceFile
from models.db import SessionFactory
from tests.admin_support import (
    ROLES,
    AdminSchool,
    admin_client,
    admin_settings,
    make_admin_school,
    sign_in,
    start_session_directly,
)
from tests.asgi_client import AsgiClient

# Names and titles of each level's children: a page shown to the other level's deputy must not hold them.
OOO_ONLY = ("Смирнова", "Попова", "Олимпиада по физике")
SOO_ONLY = ("Сидорова", "Турнир по шахматам")
FOREIGN = {"deputy": SOO_ONLY, "other_deputy": OOO_ONLY}

ALL_SIGNED = {"admin": 200, "deputy": 200, "other_deputy": 200, "teacher": 403, "anonymous": 302}
ADMIN_ONLY = {"admin": 200, "deputy": 403, "other_deputy": 403, "teacher": 403, "anonymous": 302}
# Unsafe methods: without a session there is no CSRF token, so the anonymous get 403 before anything runs.
ADMIN_ONLY_POST = {**ADMIN_ONLY, "anonymous": 403}
NOBODY = {"admin": 403, "deputy": 403, "other_deputy": 403, "teacher": 403, "anonymous": 302}
NOBODY_POST = {**NOBODY, "anonymous": 403}
OOO_OBJECT = {**ALL_SIGNED, "other_deputy": 404}
SOO_OBJECT = {**ALL_SIGNED, "deputy": 404}
EVERYONE = dict.fromkeys(ROLES, 200)
# No view has file columns: SQLAdmin's file routes find nothing to serve.
NO_FILES = {"admin": 404, "deputy": 404, "other_deputy": 404, "teacher": 403, "anonymous": 302}


@dataclass
class Case:
    method: str
    template: str  # the route's path, as the app declares it (mounts joined)
    url: Callable[[AdminSchool, dict[str, int]], str]
    expected: dict[str, int]
    data: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None


def fixed(url: str) -> Callable[[AdminSchool, dict[str, int]], str]:
    return lambda _world, _ids: url


ROSTER_CSV = "Класс;Фамилия;Имя;Отчество\n6А;Новикова;Дарья;Игоревна\n".encode()

CASES = [
    Case("GET", "/", fixed("/"), dict.fromkeys(ROLES, 302)),
    Case("GET", "/admin/statics", fixed("/admin/statics/css/main.css"), EVERYONE),
    Case("GET", "/admin/", fixed("/admin/"), ALL_SIGNED),
    Case("GET", "/admin/login", fixed("/admin/login"), EVERYONE),
    Case("POST", "/admin/login", fixed("/admin/login"), {**dict.fromkeys(ROLES, 405), "anonymous": 403}),
    *[
        Case("GET", "/admin/{identity}/list", fixed(f"/admin/{identity}/list"), ALL_SIGNED)
        for identity in (
            "school-class",
            "student",
            "achievement",
            "reward",
            "results-request",
            "digest-delivery",
        )
    ],
    # A search or a filter naming another level's class finds nothing of that level.
    Case("GET", "/admin/{identity}/list", fixed("/admin/student/list?search=ов"), ALL_SIGNED),
    Case(
        "GET",
        "/admin/{identity}/list",
        lambda w, _i: f"/admin/achievement/list?class={w.class_10a.id}&search=Турнир",
        ALL_SIGNED,
    ),
    Case(
        "GET",
        "/admin/{identity}/list",
        lambda w, _i: f"/admin/achievement/list?class={w.school.class_5a.id}",
        ALL_SIGNED,
    ),
    *[
        Case("GET", "/admin/{identity}/list", fixed(f"/admin/{identity}/list"), ADMIN_ONLY)
        for identity in ("staff-assignment", "audit-event")
    ],
    Case(
        "GET",
        "/admin/{identity}/details/{pk:path}",
        lambda w, _i: f"/admin/student/details/{w.school.students_5a[1].id}",
        OOO_OBJECT,
    ),
    Case(
        "GET",
        "/admin/{identity}/details/{pk:path}",
        lambda w, _i: f"/admin/student/details/{w.student_10a.id}",
        SOO_OBJECT,
    ),
    Case(
        "GET",
        "/admin/{identity}/details/{pk:path}",
        lambda w, _i: f"/admin/achievement/details/{w.pending_10a.id}",
        SOO_OBJECT,
    ),
    Case(
        "GET",
        "/admin/{identity}/details/{pk:path}",
        lambda w, _i: f"/admin/school-class/details/{w.school.class_5b.id}",
        OOO_OBJECT,
    ),
    Case(
        "GET",
        "/admin/{identity}/details/{pk:path}",
        lambda _w, i: f"/admin/digest-delivery/details/{i['digest']}",
        {**OOO_OBJECT, "admin": 200},
    ),
    Case("GET", "/admin/{identity}/details/{pk:path}", fixed("/admin/audit-event/details/1"), ADMIN_ONLY),
    Case(
        "GET",
        "/admin/{identity}/edit/{pk:path}",
        lambda w, _i: f"/admin/student/edit/{w.school.students_5a[1].id}",
        ADMIN_ONLY,
    ),
    Case(
        "POST",
        "/admin/{identity}/edit/{pk:path}",
        lambda w, _i: f"/admin/school-class/edit/{w.class_10a.id}",
        NOBODY_POST,
    ),
    Case(
        "DELETE",
        "/admin/{identity}/delete",
        lambda w, _i: f"/admin/student/delete?pks={w.student_10a.id}",
        NOBODY_POST,
    ),
    Case("GET", "/admin/{identity}/create", fixed("/admin/student/create"), NOBODY),
    Case("POST", "/admin/{identity}/create", fixed("/admin/student/create"), NOBODY_POST, {"surname": "Х"}),
    Case("GET", "/admin/{identity}/export/{export_type}", fixed("/admin/student/export/csv"), NOBODY),
    Case("POST", "/admin/{identity}/import", fixed("/admin/student/import"), NOBODY_POST),
    # Administrators may edit students, so the lookup answers them: there is nothing to look up.
    Case(
        "GET",
        "/admin/{identity}/ajax/lookup",
        fixed("/admin/student/ajax/lookup?name=x&term=a"),
        {**NOBODY, "admin": 400},
    ),
    Case(
        "GET",
        "/admin/{identity}/{pk:path}/{column_name}/download/",
        lambda w, _i: f"/admin/student/{w.student_10a.id}/surname/download/",
        NO_FILES,
    ),
    Case(
        "GET",
        "/admin/{identity}/{pk:path}/{column_name}/preview/",
        lambda w, _i: f"/admin/student/{w.student_10a.id}/surname/preview/",
        NO_FILES,
    ),
    Case(
        "POST",
        "/admin/student/{pk:id}/status",
        lambda w, _i: f"/admin/student/{w.school.students_5b[1].id}/status",
        {**ADMIN_ONLY_POST, "admin": 303},
        {"status": "left"},
    ),
    Case(
        "GET",
        "/admin/digest-delivery/{pk:id}/pdf",
        lambda _w, i: f"/admin/digest-delivery/{i['digest']}/pdf",
        {**OOO_OBJECT, "admin": 200},
    ),
    Case("GET", "/admin/moderation", fixed("/admin/moderation"), ALL_SIGNED),
    Case(
        "POST",
        "/admin/moderation/{achievement_id:id}/approve",
        lambda w, _i: f"/admin/moderation/{w.pending_10a.id}/approve",
        {**SOO_OBJECT, "admin": 303, "other_deputy": 303, "anonymous": 403},
    ),
    Case(
        "POST",
        "/admin/moderation/{achievement_id:id}/reject",
        lambda w, _i: f"/admin/moderation/{w.pending_5a.id}/reject",
        {**OOO_OBJECT, "admin": 303, "deputy": 303, "anonymous": 403},
        {"reason": "unreadable"},
    ),
    Case(
        "POST",
        "/admin/moderation/{achievement_id:id}/correct",
        lambda w, _i: f"/admin/moderation/{w.pending_5a.id}/correct",
        {**OOO_OBJECT, "admin": 303, "deputy": 303, "anonymous": 403},
        {"title": "Олимпиада по физике (муниципальный этап)"},
    ),
    Case(
        "GET",
        "/admin/evidence/{file_id:id}",
        lambda _w, i: f"/admin/evidence/{i['evidence_10a']}",
        SOO_OBJECT,
    ),
    # Any staff member may check an extract's code (as /verify in the bot): a made-up one here.
    Case("GET", "/admin/verify", fixed("/admin/verify"), ALL_SIGNED),
    Case(
        "POST",
        "/admin/verify",
        fixed("/admin/verify"),
        {**ALL_SIGNED, "anonymous": 403},
        {"code": "ABCD-EFGH-IJKL-MNOP-QRST-UVWX"},
    ),
    Case("GET", "/admin/exports", fixed("/admin/exports"), ALL_SIGNED),
    # CSV, so that the check below reads the rows: each deputy's file holds only their level's children.
    Case(
        "POST",
        "/admin/exports/download",
        fixed("/admin/exports/download"),
        {**ALL_SIGNED, "anonymous": 403},
        {"kind": "achievements", "first": "2026-09-01", "last": "2026-12-31", "format": "csv"},
    ),
    Case("GET", "/admin/roster", fixed("/admin/roster"), ADMIN_ONLY),
    Case(
        "POST",
        "/admin/roster/preview",
        fixed("/admin/roster/preview"),
        ADMIN_ONLY_POST,
        files={"file": ("roster.csv", ROSTER_CSV, "text/csv")},
    ),
    Case(
        "POST",
        "/admin/roster/apply",
        fixed("/admin/roster/apply"),
        {**ADMIN_ONLY_POST, "admin": 400},
        {"upload_token": "x"},
    ),
    Case("GET", "/admin/invites", fixed("/admin/invites"), ADMIN_ONLY),
    Case(
        "POST",
        "/admin/invites/class/{class_id:id}",
        lambda w, _i: f"/admin/invites/class/{w.school.class_5a.id}",
        ADMIN_ONLY_POST,
        {"guardians": "1"},
    ),
    Case("POST", "/admin/invites/staff", fixed("/admin/invites/staff"), ADMIN_ONLY_POST, {"role": "teacher"}),
    # Last: it ends each session.
    Case("GET", "/admin/logout", fixed("/admin/logout"), dict.fromkeys(ROLES, 302)),
]


def declared_routes(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route of the app, mounts joined; a mount of files counts as one GET."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                found |= declared_routes(route.routes, prefix + route.path)
            else:
                found.add(("GET", prefix + route.path))
        elif isinstance(route, Route):
            methods = (route.methods or {"GET"}) - {"HEAD"}
            found |= {(method, prefix + route.path) for method in methods}
    return found


def test_every_route_has_an_expectation(tmp_path: Path, database_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    app = create_app(admin_settings(tmp_path, database_url), create_async_engine(database_url))
    routes = declared_routes(app.routes)
    covered = {(case.method, case.template) for case in CASES}
    assert routes - covered == set(), "routes without an expectation in CASES"
    assert covered - routes == set(), "expectations for routes that don't exist"


async def _clients(world: AdminSchool, settings, engine: AsyncEngine, session_factory: SessionFactory):
    accounts = {
        "admin": world.school.admin,
        "deputy": world.school.deputy,
        "other_deputy": world.other_deputy,
    }
    clients: dict[str, tuple[AsgiClient, str]] = {}
    for role, account in accounts.items():
        client = admin_client(settings, engine)
        clients[role] = (client, await sign_in(client, session_factory, account))
    teacher = admin_client(settings, engine)
    clients["teacher"] = (
        teacher,
        await start_session_directly(teacher, session_factory, world.school.teacher_5a),
    )
    clients["anonymous"] = (admin_client(settings, engine), "")
    return clients


async def test_each_role_gets_what_the_policy_allows_and_no_other_levels_children(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    settings = admin_settings(tmp_path, database_url)
    world = await make_admin_school(session_factory, settings.media_dir)
    pdf = settings.media_dir / "digests" / "ooo.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.4 digest")
    async with session_factory() as session:
        digest = DigestDelivery(
            period="2026-W48",
            account_id=world.school.deputy.id,
            scope="level:ooo",
            pdf_path="digests/ooo.pdf",
        )
        session.add(digest)
        await session.commit()
        evidence = (
            await session.exec(
                EvidenceFile.__table__.select().where(EvidenceFile.achievement_id == world.pending_10a.id)
            )
        ).first()
    ids = {"digest": digest.id, "evidence_10a": evidence.id}
    clients = await _clients(world, settings, engine, session_factory)

    mismatches = []
    for case in CASES:
        for role in ROLES:
            client, csrf = clients[role]
            data = {**case.data, "csrf_token": csrf} if case.method != "GET" and csrf else case.data
            headers = {"x-csrf-token": csrf} if case.method == "DELETE" and csrf else {}
            response = await client.request(
                case.method, case.url(world, ids), data=data or None, files=case.files, headers=headers
            )
            if response.status_code != case.expected[role]:
                mismatches.append(
                    (case.method, case.url(world, ids), role, response.status_code, case.expected[role])
                )
            if response.status_code == 200 and role in FOREIGN:
                leaked = [name for name in FOREIGN[role] if name in response.text]
                if leaked:
                    mismatches.append((case.method, case.url(world, ids), role, "shows", leaked))
    assert mismatches == [], "\n".join(map(str, mismatches))


def test_every_view_names_the_policys_action_and_one_that_names_none_is_nobodys() -> None:
    """Which views are administrators' only is the access policy's answer for the action each view names
    (`requires`, `edit_requires`), not a table of the admin's own."""
    from sqladmin.authorization import Action as AdminAction

    from admin.app import VIEWS
    from admin.auth import may_open
    from bot.services.access import Action
    from bot.services.principal import Principal

    named = {view.__name__: (view.requires, getattr(view, "edit_requires", None)) for view in VIEWS}
    assert all(isinstance(requires, Action) for requires, _edit in named.values()), named
    assert named["AuditView"][0] == Action.VIEW_AUDIT_LOG
    assert {name for name, (requires, _e) in named.items() if requires == Action.MANAGE_ROSTER} == {
        "StaffView",
        "RosterPage",
        "InvitesPage",
    }
    assert {name for name, (_r, edit) in named.items() if edit is not None} == {"StudentView"}

    administrator = Principal(account_id=1, is_admin=True)
    unnamed = type("Unnamed", (), {"identity": "unnamed"})
    assert not may_open(administrator, unnamed, AdminAction.LIST)
    assert may_open(administrator, VIEWS[0], AdminAction.LIST)
    assert not may_open(administrator, VIEWS[0], AdminAction.DELETE)
