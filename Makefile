# Every target sets itself up: the first run creates .venv and installs the project with uv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
export UV_COMPILE_BYTECODE := 1
export PYTHONDONTWRITEBYTECODE :=

.PHONY: test lint mock bench chaos gate load clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1"
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	touch $@

## make test: the whole suite, in parallel
test: $(STAMP)
	$(PY) -m pytest -n auto -q

## make lint: ruff and mypy, as CI gates
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## make chaos: the main job: every scenario against the bot, in the simulation engine
chaos: $(STAMP)
	$(VENV)/bin/chaos run --report-dir var/chaos

## make gate: the gate suite; writes var/gate-certificate.json for btcbot run
gate: $(STAMP)
	$(VENV)/bin/chaos gate --report-dir var/chaos-gate

## make load: locust against the mock on 127.0.0.1 (rate limits, then throughput); stops itself
load: $(STAMP)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev,load]'
	$(PY) -m benchmarks.load --scenario limits --users 5 --seconds 20
	$(PY) -m benchmarks.load --scenario throughput --users 8 --seconds 20
	$(PY) -m benchmarks.adapter_load --strategies 20 --seconds 20

## make mock: serve the mock venue on 127.0.0.1:8080
mock: $(STAMP)
	$(VENV)/bin/mock-exchange serve --host 127.0.0.1 --port 8080

## make bench: speed benchmarks, figures to benchmarks/results/
bench: $(STAMP)
	$(PY) -m benchmarks.matching
	$(PY) -m benchmarks.rest_throughput
	$(PY) -m benchmarks.rest_throughput --client raw
	$(PY) -m benchmarks.ws_fanout
	$(PY) -m benchmarks.client_overhead
	$(PY) -m benchmarks.reconcile_cost
	$(PY) -m benchmarks.decision_latency
	$(PY) -m benchmarks.sim_speed --gate
	$(PY) -m benchmarks.readme_table

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
