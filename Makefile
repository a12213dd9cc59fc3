# The few verbs people type. Everything runs inside ./.venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_ENV = DEBUG=true HOST=127.0.0.1 PORT=$(PORT) WEB_CONCURRENCY=2

.PHONY: demo demo-reset test chromium lint format bench clean venv

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Run the demo: SQLite, demo data, web + scoring worker + mail worker on http://127.0.0.1:$(PORT) (`make demo PORT=9000`)
# The demo data is loaded into an empty database only: a second `make demo` keeps what was done.
# `make demo-reset` deletes every tutor, session, alert and mail and loads the demo data afresh.
# The Procfile says `gunicorn` and `python`, so honcho runs with the venv first on PATH. Ctrl-C
# reaches honcho, which stops both processes; the recipe's shell ignores it so that a clean stop
# (honcho's 130) ends with a line instead of make's "Error 130".
demo demo-reset: venv
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py setup_schedules
	$(DEMO_ENV) $(BIN)/python manage.py setup_demo $(if $(filter demo-reset,$@),--reset)
	@trap '' INT; PATH="$(CURDIR)/$(BIN):$$PATH" $(DEMO_ENV) $(BIN)/honcho start web worker worker-mail; \
		status=$$?; [ $$status -eq 130 ] && echo "Demo stopped." || exit $$status

## Run the whole test suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: venv chromium
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "The browser tests need Chromium: sudo apt-get install chromium"; exit 1; }

# The same checks run before each commit once enabled: .venv/bin/pre-commit install
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run


format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks on PostgreSQL (see bench/README.md)
bench: venv
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/recompute.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/generate.py --database tutorscore_bench_api --tutors 1000 --sessions 100000 --keep --scores
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/tutorscore_bench_api $(BIN)/python bench/api.py
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
