# The two commands: `make demo` and `make test`. Only Python 3.11 is needed beforehand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install stop lint corpus bench

$(BIN)/.installed: requirements.txt requirements-test.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-test.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

stop: install
	$(BIN)/python -c "from pathlib import Path; from enigma_site import embedded; embedded.stop(Path('data'))"

corpus: install
	DEBUG=true $(BIN)/python manage.py import_eml ../shared/mail-corpus

bench: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/reply.py
	$(BIN)/python benchmarks/knowledge.py
	$(BIN)/python benchmarks/nlp.py
	$(BIN)/python benchmarks/bot.py
	$(BIN)/python benchmarks/api.py
