# Every target installs what it needs into .venv first; nothing is done by hand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locales/*/LC_MESSAGES/messages.po))

.PHONY: run demo test bench lint migrate i18n locales clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Compiled catalogs are build products, made from the committed .po files.
locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(VENV)/bin/pybabel compile --use-fuzzy -d locales -D messages -l $* >/dev/null

locales: $(STAMP) $(MO_FILES)

run: locales
	$(PY) -m bot migrate
	$(PY) -m bot run

demo: locales
	$(PY) -m bot demo $(ARGS)

test: locales
	$(PY) -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the admin's browser test (tests/test_admin_browser.py); `test` doesn't need it:
# without Chromium that test skips and says so. Playwright never downloads a browser here.
browser:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium is installed: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "apt-get failed: the browser tests will skip"; \
	else \
		echo "chromium is missing and can't be installed here (needs root and apt-get): the browser tests will skip"; \
	fi

bench: locales
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

migrate: $(STAMP)
	$(PY) -m bot migrate

# Re-extract strings and merge them into both catalogs; then translate and run `make test`.
i18n: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _ -k __ -k lazy_gettext -k ngettext:1,2 -k lazy_ngettext:1,2 \
		--no-location --sort-output -o locales/messages.pot .
	$(VENV)/bin/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete
	$(PY) locales/fill_ru.py
	$(MAKE) locales

clean:
	rm -rf $(VENV) demo-output .pytest_cache
