"""Backup and restore of a SQLite installation: the database, the media files and a manifest.

The database is copied with SQLite's online backup API in one step: it reads one consistent snapshot
while the bot goes on writing (WAL readers do not block the writer). The media files are copied after
the database, so every file the snapshot refers to is already there (evidence files are immutable and
written by rename). `manifest.json` — written last, so a backup without it is incomplete — records the
time, the app and schema versions, every table's row count and the SHA-256 of every file.

Blocking functions: call them from a thread inside a running loop. PostgreSQL is backed up with pg_dump.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bot.i18n_text import _

MANIFEST = "manifest.json"
DATABASE_FILE = "portfolio.sqlite3"
MEDIA = "media"
_TEMP_PREFIX = ".tmp-"  # evidence being written (bot/services/evidence.py): not a file yet
_CHUNK = 1 << 20


class BackupError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass
class Manifest:
    created_at: str
    app_version: str
    alembic_revision: str | None
    tables: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)  # path inside the backup → SHA-256

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise BackupError(
                _("{path}: нет {manifest} — это не резервная копия или она не закончена").format(
                    path=directory, manifest=MANIFEST
                )
            )
        try:
            data = json.loads(path.read_text("utf-8"))
            manifest = cls(**{key: data[key] for key in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as error:  # not JSON, not an object, a key missing
            raise BackupError(_("{path}: манифест повреждён").format(path=path)) from error
        if not (
            isinstance(manifest.tables, dict)
            and isinstance(manifest.files, dict)
            and DATABASE_FILE in manifest.files
        ):
            raise BackupError(_("{path}: манифест повреждён").format(path=path))
        for name in manifest.files:
            # Restore copies each file to MEDIA_DIR/<name without «media/»>: «..» or «media//etc/x»
            # in a crafted manifest would write outside it.
            if not _inside_backup(name):
                raise BackupError(
                    _("{path}: манифест называет файл вне копии: {name}").format(path=path, name=name)
                )
        return manifest


def _inside_backup(name: str) -> bool:
    """The database file or a plain relative path under media/."""
    if name == DATABASE_FILE:
        return True
    first, *rest = name.split("/")
    return first == MEDIA and bool(rest) and all(part not in ("", ".", "..") for part in rest)


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError(_("База SQLite в памяти: копировать нечего"))
    return Path(url.database)


def pg_commands(database_url: str, directory: Path) -> tuple[str, str]:
    """pg_dump and pg_restore command lines for a PostgreSQL URL."""
    # Without the password: pg_dump reads it from ~/.pgpass or PGPASSWORD, not from the shell history.
    url = make_url(database_url)
    target = URL.create(
        "postgresql", url.username, None, url.host, url.port, url.database, url.query
    ).render_as_string()
    dump = directory / "portfolio.dump"
    return (
        f"pg_dump --format=custom --file='{dump}' '{target}'",
        f"pg_restore --clean --if-exists --no-owner --dbname='{target}' '{dump}'",
    )


def backup(database: Path, media_dir: Path, directory: Path) -> Manifest:
    """Copy the database and media into `directory` (new or empty) and write the manifest."""
    if not database.is_file():
        raise BackupError(_("{path}: файла базы данных нет").format(path=database))
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(_("{path} не пуст: для каждой копии нужен новый каталог").format(path=directory))
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # children's personal data
    copy = directory / DATABASE_FILE
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)  # one step: one snapshot, however busy the bot is
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        _check_integrity(target, copy)
        tables = _row_counts(target)
        revision = _alembic_revision(target)
    finally:
        target.close()
        source.close()
    files = {DATABASE_FILE: file_sha256(copy)}
    if media_dir.is_dir():
        for path in sorted(_media_files(media_dir)):
            relative = path.relative_to(media_dir).as_posix()
            destination = directory / MEDIA / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(path, destination)
            except FileNotFoundError:  # deleted since the listing (a cancelled draft's file)
                continue
            files[f"{MEDIA}/{relative}"] = file_sha256(destination)
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        app_version=_app_version(),
        alembic_revision=revision,
        tables=tables,
        files=files,
    )
    _write_atomically(directory / MANIFEST, json.dumps(asdict(manifest), ensure_ascii=False, indent=2))
    return manifest


def verify(directory: Path) -> Manifest:
    """The manifest of a backup whose files, database integrity and row counts all check out."""
    manifest = Manifest.read(directory)
    for name, digest in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise BackupError(_("{path}: файла нет в копии").format(path=path))
        if file_sha256(path) != digest:
            raise BackupError(
                _("{path}: файл повреждён (SHA-256 не совпадает с манифестом)").format(path=path)
            )
    _check_database(directory / DATABASE_FILE, manifest)
    return manifest


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    set_aside: list[Path]  # what --force moved out of the way


def restore(directory: Path, database: Path, media_dir: Path, *, force: bool = False) -> Restored:
    """Restore a verified backup into an empty data directory (`force`: move existing data aside)."""
    manifest = verify(directory)
    occupied = [path for path in (database, media_dir) if _has_data(path)]
    if occupied and not force:
        names = ", ".join(str(path) for path in occupied)
        raise BackupError(
            _(
                "{paths}: здесь уже есть данные. Восстанавливайте в пустой каталог данных "
                "или добавьте --force (текущие данные будут переименованы, не удалены)"
            ).format(paths=names)
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    set_aside = [_set_aside(path, stamp) for path in occupied]
    _remove_database(database)  # what is left is at most a freshly migrated, empty database
    database.parent.mkdir(parents=True, exist_ok=True)
    staged = database.with_name(database.name + ".restoring")
    shutil.copy2(directory / DATABASE_FILE, staged)
    if file_sha256(staged) != manifest.files[DATABASE_FILE]:
        staged.unlink()
        raise BackupError(
            _("{path}: копия не совпадает с резервной (место на диске кончилось?)").format(path=staged)
        )
    os.replace(staged, database)
    _check_database(database, manifest)
    for name, digest in manifest.files.items():
        if not name.startswith(f"{MEDIA}/"):
            continue
        destination = media_dir / name.removeprefix(f"{MEDIA}/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(directory / name, destination)
        if file_sha256(destination) != digest:
            raise BackupError(
                _("{path}: копия не совпадает с резервной (место на диске кончилось?)").format(
                    path=destination
                )
            )
    media_dir.mkdir(parents=True, exist_ok=True)
    return Restored(manifest, set_aside)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _media_files(media_dir: Path) -> list[Path]:
    return [p for p in media_dir.rglob("*") if p.is_file() and not p.name.startswith(_TEMP_PREFIX)]


def _check_database(path: Path, manifest: Manifest) -> None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _check_integrity(connection, path)
        counts = _row_counts(connection)
    finally:
        connection.close()
    if counts != manifest.tables:
        differing = sorted(
            name
            for name in counts.keys() | manifest.tables.keys()
            if counts.get(name) != manifest.tables.get(name)
        )
        raise BackupError(
            _("{path}: число строк не совпадает с манифестом в таблицах {tables}").format(
                path=path, tables=", ".join(differing)
            )
        )


def _check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(
            _("{path}: проверка целостности не пройдена: {result}").format(
                path=path, result="; ".join(result[:5])
            )
        )


def _tables(connection: sqlite3.Connection) -> list[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    return [row[0] for row in connection.execute(query)]


def _row_counts(connection: sqlite3.Connection) -> dict[str, int]:
    return {
        name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        for name in _tables(connection)
    }


def _alembic_revision(connection: sqlite3.Connection) -> str | None:
    if "alembic_version" not in _tables(connection):
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _has_data(path: Path) -> bool:
    """A media directory with any file, or a database with any row (a freshly migrated one is empty)."""
    if path.is_dir():
        return any(p.is_file() for p in path.rglob("*"))
    if not path.is_file():
        return False
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        counts = _row_counts(connection)
    except sqlite3.DatabaseError:
        return True  # not a database we can read: not ours to overwrite silently
    finally:
        connection.close()
    return any(count for name, count in counts.items() if name != "alembic_version")


def _set_aside(path: Path, stamp: str) -> Path:
    """Rename existing data to «NAME.before-restore-STAMP»; a database's WAL is folded in first."""
    if path.is_file():
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    path.rename(aside)
    return aside


def _remove_database(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        path.with_name(name).unlink(missing_ok=True)


def _app_version() -> str:
    try:
        return version("portfolio-bot")
    except PackageNotFoundError:
        return "unknown"


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(_TEMP_PREFIX + path.name)
    temp.write_text(text, "utf-8")
    os.replace(temp, path)
