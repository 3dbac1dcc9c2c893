# The two commands of the README, plus the pieces they are made of.
#   make serve   install everything into .venv, then serve the site at http://127.0.0.1:8000
#   make test    install everything, then run every test (pytest: unit tests, every code block
#                of the pages, and the strict site build)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export NO_MKDOCS_2_WARNING := 1

.PHONY: install serve test build lock clean

install: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

serve: install
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: install
	$(BIN)/python -m pytest

build: install
	$(BIN)/mkdocs build --strict

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --requirement requirements.in
	{ sed -n '1,2p' requirements.txt; .lock-venv/bin/python -m pip freeze | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.txt && rm -rf .lock-venv

clean:
	rm -rf site .cache $(VENV)
