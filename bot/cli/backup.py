"""`python -m bot backup DIR` and `python -m bot restore DIR [--force]` (see bot/services/backup.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import Settings
from bot.i18n_text import _
from bot.services.backup import BackupError, Manifest, backup, pg_commands, restore, sqlite_path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backup", help="copy the database (online, safe while the bot runs) and media into a new DIR"
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="a new or empty directory")
    parser.set_defaults(func=backup_command)
    parser = subparsers.add_parser(
        "restore", help="restore a backup into an empty data directory (stop the bot first)"
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="a directory written by `backup`")
    parser.add_argument(
        "--force", action="store_true", help="move existing data aside (NAME.before-restore-TIME) and restore"
    )
    parser.set_defaults(func=restore_command)


def backup_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        database = sqlite_path(settings.database_url)
        if database is None:
            return _postgres(settings, args.directory, restoring=False)
        manifest = backup(database, settings.media_dir, args.directory)
    except BackupError as error:
        print(error, file=sys.stderr)
        return 1
    print(_("Резервная копия готова: {path}").format(path=args.directory))
    _summary(manifest)
    print(_("Скопируйте каталог на другой диск или сервер: копия рядом с базой не спасёт от поломки диска."))
    return 0


def restore_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        database = sqlite_path(settings.database_url)
        if database is None:
            return _postgres(settings, args.directory, restoring=True)
        restored = restore(args.directory, database, settings.media_dir, force=args.force)
    except BackupError as error:
        print(error, file=sys.stderr)
        return 1
    for path in restored.set_aside:
        print(_("Прежние данные сохранены как {path}").format(path=path))
    print(_("Восстановлено из {path}: база {database}, файлы в {media}").format(
        path=args.directory, database=database, media=settings.media_dir
    ))  # fmt: skip
    _summary(restored.manifest)
    print(_("Хеши файлов, целостность базы и число строк совпадают с манифестом. Запустите бота."))
    return 0


def _summary(manifest: Manifest) -> None:
    rows = sum(manifest.tables.values())
    print(
        _("Создана {time}, версия {version}, схема {revision}; строк {rows}, файлов {files}").format(
            time=manifest.created_at,
            version=manifest.app_version,
            revision=manifest.alembic_revision or "—",
            rows=rows,
            files=len(manifest.files),
        )
    )


def _postgres(settings: Settings, directory: Path, *, restoring: bool) -> int:
    """PostgreSQL has its own tools; say which instead of pretending to copy it."""
    dump, load = pg_commands(settings.database_url, directory)
    print(
        _("База данных — PostgreSQL: копируйте её средствами PostgreSQL (пароль — в ~/.pgpass)."),
        file=sys.stderr,
    )
    print(load if restoring else dump)
    media = directory / "media"
    source, target = (media, settings.media_dir) if restoring else (settings.media_dir, media)
    print(_("Файлы подтверждений копируйте отдельно, например:"), file=sys.stderr)
    print(f"rsync -a '{source}/' '{target}/'")
    return 2
