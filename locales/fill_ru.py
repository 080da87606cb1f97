"""Our message ids are Russian, so the Russian catalog repeats them: fill every empty singular entry.

Plural entries need their third Russian form written by hand (1 достижение, 2 достижения, 5 достижений);
the catalog test fails until they are.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = Path(__file__).parent / "ru" / "LC_MESSAGES" / "messages.po"


def main() -> None:
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="ru")
    for message in catalog:
        if message.id and not message.pluralizable and not message.string:
            message.string = message.id
    with CATALOG.open("wb") as f:
        write_po(f, catalog, sort_output=True, omit_header=False, width=110)


if __name__ == "__main__":
    main()
