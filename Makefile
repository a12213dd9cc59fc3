# The few verbs people type. Everything runs inside ./.venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ENV := DEBUG=true HOST=127.0.0.1 PORT=8000 WEB_CONCURRENCY=2

.PHONY: demo test lint format bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## Run the demo: SQLite, demo data, web + worker on http://127.0.0.1:8000
# (the Procfile says `gunicorn` and `python`, so honcho runs with the venv first on PATH)
demo: venv
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py setup_schedules
	$(DEMO_ENV) $(BIN)/python manage.py generate_data --tutors 100 --sessions 3000 --days 90 --seed 42 --clear --history-days 30
	$(DEMO_ENV) $(BIN)/python manage.py create_demo_user
	PATH="$(CURDIR)/$(BIN):$$PATH" $(DEMO_ENV) $(BIN)/honcho start web worker

## Run the whole test suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: venv
	$(BIN)/pytest -n 2

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
