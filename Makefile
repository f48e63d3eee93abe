# Two commands do the whole set-up on a fresh machine (README "Quick start"):
#   make demo   the product against the local sandbox (no credentials, no Prefect server)
#   make test   the test suite (PostgreSQL/MariaDB tests use the local services)
# Each creates .venv from constraints.txt when it is missing or older than pyproject.toml /
# constraints.txt, and reuses it otherwise.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test venv

demo: $(STAMP)
	$(VENV)/bin/adsync demo

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml sandbox/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[test,bench]" -e ./sandbox
	touch $(STAMP)
