# The two commands that matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test image-test fuzz seed bench bench-instructions bench-lists mutation venv venv-dev clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Node tools the tests run (Spectral), pinned in tests/node/package-lock.json. --ignore-scripts: none of
# them needs an install script (one dependency's would only send usage statistics).
NODE_TOOLS := tests/node/node_modules/.installed
$(NODE_TOOLS): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev $(NODE_TOOLS)

run: venv
	$(PY) scripts/create_admin.py --dev-default
	$(PY) server.py

# The test suite under coverage (server.py, the scripts and forked workers included: see
# [tool.coverage] in pyproject.toml); the report fails under its floor.
test: venv-dev
	$(PY) -m ruff check .
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest
	$(PY) -m coverage combine --quiet
	$(PY) -m coverage report

# The Docker image built from the Dockerfile and used as README's Docker section tells a user to (a few minutes the
# first time, under a minute after). Podman on a Debian base made here with debootstrap; as root, it installs podman,
# runc and debootstrap with apt when missing. `make image-test ENGINE=docker IMAGE=name` tests an image built with
# Docker (the GitHub workflow). The harness needs only python3's standard library, no .venv.
ENGINE ?= podman
IMAGE ?=
image-test:
	$(PYTHON) tests/image/check_image.py --engine $(ENGINE) $(if $(IMAGE),--image $(IMAGE))

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
	$(PY) -m bench.run $(BENCH_ARGS)

# Instructions per request under Valgrind's callgrind, ours and the floor (bench/floor.py), two runs
# (12-15 minutes; BENCH_ARGS="--quick" is a 30-60 second smoke run, "--cprofile" adds a Python-level
# profile). Adds "instructions" to bench/results/latest.json and redraws latest.png. Needs Debian's valgrind.
bench-instructions: venv-dev
	@command -v valgrind >/dev/null || { echo "installing Debian's valgrind"; apt-get update -qq && apt-get install -y -qq valgrind; }
	$(PY) -m bench.instructions $(BENCH_ARGS)

# Mutation testing (mutmut 3) of repositories/ and services/tokens.py, then the delete guards made
# non-atomic by hand, then mutation/results/latest.md. Slow (many hours on two cores) and not
# part of make test; a second run only tries what changed. MUTANTS='repositories.oficiales.*' narrows it.
MUTANTS ?=
$(VENV)/.installed-mutation: $(VENV)/.installed-dev requirements-mutation.txt
	$(PY) -m pip install --quiet -r requirements-mutation.txt
	touch $@

mutation: $(VENV)/.installed-mutation
	$(PY) mutation/run.py $(MUTANTS)

clean:
	rm -rf $(VENV) .pytest_cache tests/node/node_modules mutants .coverage .coverage.*

# The admin's infractions list (first page vs a deep one) and its CSV export's memory (1,000 vs 100,000
# rows) at 100,000 infractions; adds "lists" to bench/results/latest.json. About 10 minutes.
bench-lists: venv-dev
	$(PY) -m bench.lists $(BENCH_ARGS)
