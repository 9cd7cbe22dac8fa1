# The two commands that matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test fuzz seed bench bench-instructions venv venv-dev clean

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
	$(PY) -m ruff check .
	$(PY) -m pytest

# A long, random contract fuzz of the API (make test runs a short, reproducible one).
FUZZ_MAX_EXAMPLES ?= 2000
fuzz: venv-dev
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_RANDOM=1 $(PY) -m pytest tests/test_fuzz.py -s

# Demo data for `make run` (same database: MONGODB_URI, or the embedded one under data/), e.g.
#   make seed SEED_ARGS="--personas 2000 --vehiculos 3000 --oficiales 50 --infracciones 20000 --drop"
SEED_ARGS ?= --personas 200 --vehiculos 300 --oficiales 20 --infracciones 2000
seed: venv
	$(PY) scripts/seed_demo.py $(SEED_ARGS)

# Benchmark of both API methods on a throwaway database (a few minutes; not part of make test).
# Writes bench/results/latest.json and latest.png. BENCH_ARGS="--profile bench/results/profile" adds a py-spy profile.
BENCH_ARGS ?=
bench: venv-dev
	$(PY) bench/run.py $(BENCH_ARGS)

# Instructions per request under Valgrind's callgrind, ours and the floor (bench/floor.py), two runs
# (12-15 minutes; BENCH_ARGS="--quick" is a 30-60 second smoke run, "--cprofile" adds a Python-level
# profile). Adds "instructions" to bench/results/latest.json and redraws latest.png. Needs Debian's valgrind.
bench-instructions: venv-dev
	@command -v valgrind >/dev/null || { echo "installing Debian's valgrind"; apt-get update -qq && apt-get install -y -qq valgrind; }
	$(PY) bench/instructions.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
