# The two commands that matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test fuzz venv venv-dev clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

run: venv
	$(PY) scripts/create_admin.py --dev-default
	$(PY) server.py

test: venv-dev
	$(PY) -m pytest

# A long, random contract fuzz of the API (make test runs a short, reproducible one).
FUZZ_MAX_EXAMPLES ?= 2000
fuzz: venv-dev
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_RANDOM=1 $(PY) -m pytest tests/test_fuzz.py -s

clean:
	rm -rf $(VENV) .pytest_cache
