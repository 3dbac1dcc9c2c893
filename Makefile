# The two commands of the README, plus the pieces they are made of.
#   make serve   install everything into .venv, then serve the site at http://127.0.0.1:8000
#                (make serve PORT=8001 for another port)
#   make test-fast  the unit tests only (timed in README.md); make lint  ruff and mypy, as CI runs them
#   make test    install everything, then run every test (pytest: unit tests, every code block
#                of the pages, and the strict site build)

PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
# The stamp names the Python that made the virtualenv: another Python rebuilds it.
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
INSTALLED := $(VENV)/.installed-$(PYVER)
export NO_MKDOCS_2_WARNING := 1
# Python keeps compiled modules in __pycache__ folders, and pytest its rewritten
# test modules: a warm run reuses them. Some shells set PYTHONDONTWRITEBYTECODE,
# which makes every test worker, build and command compile them again (measured:
# collecting the tests takes 6.8 s instead of 4.1 s in each of the two workers).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install serve test test-fast lint build build-offline lock clean mutation matrix

install: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	@[ -n "$(PYVER)" ] || { echo "$(PYTHON) does not run: install Python 3.11, 3.12 or 3.13, or name one with PYTHON=..."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else \
	  "vitlesson needs Python 3.11, 3.12 or 3.13, and $(PYTHON) is Python $(PYVER): " \
	  "run make with PYTHON=python3.11 (or 3.12, 3.13)")'
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYVER)" ]; then \
	  echo "$(VENV) was made by another Python: rebuilding it with Python $(PYVER)"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.installed*
	touch $@

# PORT is checked when make reads this file, before anything is installed: a value that
# is not a port, or a port in use, stops make with one line (exit 2).
SERVE_PORT_PROBLEM = $(shell $(PYTHON) -c 'import socket, sys; port = sys.argv[1]; \
  valid = port.isascii() and port.isdigit() and 0 < int(port) < 65536; \
  probe = socket.socket(); probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
  used = valid and probe.connect_ex(("127.0.0.1", int(port))) == 0; probe.close(); \
  print(f"Port {port} is already in use: run make serve PORT={int(port) % 65535 + 1} (or stop what uses it)" if used \
  else "" if valid else f"PORT must be a whole number from 1 to 65535, got {port!r}: run make serve PORT=8001, for instance")' \
  '$(subst ','\'',$(PORT))' 2>/dev/null)
serve: $(if $(filter serve,$(MAKECMDGOALS)),$(if $(SERVE_PORT_PROBLEM),$(error $(SERVE_PORT_PROBLEM)))) install
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(PORT)

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# The unit tests alone (tests/unit: no site build, no browser, no notebooks, no training;
# property tests draw a tenth of their cases): seconds, for the edit-test loop. `make test`
# still runs everything: tests/unit, tests/site, tests/browser, tests/notebooks and the pages.
test-fast: install
	VITLESSON_FAST_TESTS=1 $(BIN)/python -m pytest tests/unit -m "not browser and not site and not slow" -q

# One style, enforced in CI: ruff's lint rules and formatter (79 columns, as the pages show
# code), and mypy on vitlesson and sitebuild.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

build: install
	$(BIN)/mkdocs build --strict

# A copy that works opened from disk (file://): links name index.html files, search is embedded.
build-offline: install
	OFFLINE=true DIRECTORY_URLS=false $(BIN)/mkdocs build --strict --site-dir site-offline

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --requirement requirements.in
	{ sed -n '1,2p' requirements.txt; .lock-venv/bin/python -m pip freeze | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.txt && rm -rf .lock-venv

clean:
	rm -rf site site-offline .cache mutants $(VENV)

# Mutation testing of the core modules and the lab's recipe (run before a release; the lab's
# 1,820 mutants alone took over 30 minutes with one child on a loaded 2-core machine).
# mutmut changes one thing at a time (see [tool.mutmut] in pyproject.toml) and runs the
# fast unit tests; the report lists the score per module and every survivor, marking the
# ones judged equivalent in tests/equivalent_mutants.txt.
mutation: install
	$(BIN)/python -m pip install --quiet mutmut==3.8.1
	rm -rf mutants
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 > /dev/null
	$(BIN)/python -m tests.support.mutation_report

# Every supported Python: a clean clone of HEAD per interpreter, `make test` in each, with
# times. Name the interpreters with PYTHONS="..." where they are not on PATH as python3.1x.
# Python 3.12 and 3.13 have no CPU-only torch 2.13.0 on PyPI: pip installs the CUDA build
# (several GB), which runs on the CPU as well.
PYTHONS ?= python3.11 python3.12 python3.13
matrix:
	@for python in $(PYTHONS); do \
	  dir=$$(mktemp -d); git clone -q . "$$dir"; start=$$(date +%s); \
	  if (cd "$$dir" && $(MAKE) --no-print-directory test PYTHON=$$python > test.log 2>&1); then result=passed; else result=FAILED; fi; \
	  echo "$$python: make test $$result in $$(( $$(date +%s) - start )) s (log: $$dir/test.log)"; \
	done
