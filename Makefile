# SignalCraft: `make run` starts everything on embedded defaults, `make test` runs the tests.
# Both create .venv and install the pinned dependencies first (requirements.txt, constraints.txt).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help install run demo test test-fast bench schemas clean

help:
	@echo "make run    - start broker, PostgreSQL, fake Slack and the six services (Ctrl-C stops them)"
	@echo "make demo   - send a signed Sentry webhook into the running system and show the Slack message"
	@echo "make test   - unit, contract, integration and end-to-end tests (real broker and PostgreSQL)"
	@echo "make bench  - ingest throughput and latency on the durable embedded stack"
	@echo "make schemas - re-export event JSON Schemas (refuses breaking changes)"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m signalcraft_devstack.run

demo: $(STAMP)
	$(PY) -m signalcraft_devstack.demo

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	@$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(PY) -m bench.ingest_bench $(BENCH_ARGS)

schemas: $(STAMP)
	$(PY) -m signalcraft_schemas.jsonschema

clean:
	rm -rf .data bench/results
