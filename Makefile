# TableLoop — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := app

PROCFILE ?= Procfile

.PHONY: run start test setup lint translations migrate demo system-deps bench clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Compiled catalogues are build output; the .po files are the source.
translations: $(STAMP)
	@$(BIN)/pybabel compile -d app/translations 2>/dev/null

setup: $(STAMP) translations

migrate: setup
	$(BIN)/flask db upgrade

demo: migrate
	$(BIN)/flask demo load

# Everything of the embedded default, together; Ctrl-C stops all of it, also when the output
# goes through a pipe (`make run | tee run.log`): see bin/run.
run: demo
	@mkdir -p var
	@$(BIN)/flask demo urls
	@$(MAKE) --no-print-directory start

# Only the processes of $(PROCFILE), on what is already set up.
start:
	$(BIN)/python bin/run -f $(PROCFILE)

# Debian's chromium for the browser tests (with a Chinese font, so that their screenshots show
# the words, not boxes) and postgresql-client (pg_dump, pg_restore) for the
# backup test (root on CI machines; otherwise install them yourself).
system-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests need it)"; fi; \
	fi
	@if [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
	    || echo "fonts-wqy-microhei not installed: screenshots will show boxes for Chinese"; \
	fi
	@if ! command -v pg_dump >/dev/null || ! command -v pg_restore >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; \
	  else echo "pg_dump missing: sudo apt-get install postgresql-client (the backup test needs it)"; fi; \
	fi

test: setup system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	@echo "see docs/benchmarks.md for each script in bench/"

clean:
	rm -rf $(VENV) instance/*.sqlite3* var/pos_agent

# Refresh the catalogues after changing user-facing text; then translate the new zh_CN entries.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -o app/translations/messages.pot app kitchen_display
	$(BIN)/pybabel update --no-fuzzy-matching -i app/translations/messages.pot -d app/translations
