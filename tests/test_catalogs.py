"""The Russian and English catalogs are complete, current and consistent."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def load(locale: str) -> Catalog:
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


def extracted_ids(tmp_path: Path) -> set[str]:
    """Extract the strings of the code as it is now, the way `make i18n` does."""
    out = tmp_path / "now.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_", "-k", "__",
         "-k", "lazy_gettext", "-k", "ngettext:1,2", "-k", "lazy_ngettext:1,2", "-o", str(out), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with out.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def test_every_string_in_the_code_is_in_both_catalogs(tmp_path: Path) -> None:
    in_code = extracted_ids(tmp_path)
    for locale in ("ru", "en"):
        in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in load(locale) if m.id}
        missing = sorted(in_code - in_catalog)
        assert not missing, f"run `make i18n` and translate; missing in {locale}: {missing[:5]}"


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_no_entry_is_empty_or_fuzzy(locale: str) -> None:
    catalog = load(locale)
    expected_forms = 3 if locale == "ru" else 2
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, f"fuzzy entry in {locale}: {message.id!r}"
        if message.pluralizable:
            forms = list(message.string)
            assert len(forms) == expected_forms, (
                f"{locale} needs {expected_forms} plural forms: {message.id!r}"
            )
            assert all(forms), f"empty plural form in {locale}: {message.id!r}"
        else:
            assert message.string, f"untranslated in {locale}: {message.id!r}"


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_translations_keep_the_placeholders(locale: str) -> None:
    for message in load(locale):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == wanted, (
                f"placeholders differ in {locale}: {message.id!r}"
            )
