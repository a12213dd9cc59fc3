# The few verbs people type. Everything runs inside ./.venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ENV := DEBUG=true HOST=127.0.0.1 PORT=8000 WEB_CONCURRENCY=2

.PHONY: demo test chromium lint format bench clean venv

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Run the demo: SQLite, demo data, web + scoring worker + mail worker on http://127.0.0.1:8000
# (the Procfile says `gunicorn` and `python`, so honcho runs with the venv first on PATH)
demo: venv
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py setup_schedules
	$(DEMO_ENV) $(BIN)/python manage.py create_demo_user
	$(DEMO_ENV) $(BIN)/python manage.py generate_data --tutors 100 --sessions 3000 --days 90 --seed 42 --clear --history-days 30
	@echo "Demo on http://127.0.0.1:8000/ - log in as admin / $${DEMO_PASSWORD:-tutorscore-demo} (Ctrl-C stops)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(DEMO_ENV) $(BIN)/honcho start web worker worker-mail

## Run the whole test suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: venv chromium
	$(BIN)/pytest -n 2

# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "The browser tests need Chromium: sudo apt-get install chromium"; exit 1; }

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks on PostgreSQL (see bench/README.md)
bench: venv
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/recompute.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
