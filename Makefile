# Hedui developer commands. Two set-up commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 5000
export HEDUI_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/hedui.db

.PHONY: install assets run test bench screenshots lint check clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Hedui needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## make assets: the pinned bpmn-js (package-lock.json) from npm, copied into web/static/vendor/ (git-ignored):
## the viewer (diagrams), the modeler (/designer/edit/model/...) and their css and bpmn font
VENDOR := web/static/vendor
BPMN_JS := node_modules/bpmn-js/dist
#: what gets copied (part of the stamp: a checkout that copied an older list copies again)
VENDOR_FILES := bpmn-navigated-viewer.production.min.js bpmn-modeler.production.min.js \
	assets/diagram-js.css assets/bpmn-js.css
VENDOR_DIRS := assets/bpmn-font
ASSETS_STAMP := $(VENDOR)/.copied-$(shell (cat package.json package-lock.json 2>/dev/null; \
	echo $(VENDOR_FILES) $(VENDOR_DIRS)) | sha256sum | cut -c1-12)

$(ASSETS_STAMP): package.json
	@if ! command -v npm >/dev/null; then \
	  echo "npm not found: BPMN diagrams and the web modeler will not be shown (install Node.js, then run make assets)"; exit 0; fi; \
	set -e; \
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi; \
	mkdir -p $(VENDOR); \
	cp $(addprefix $(BPMN_JS)/,$(VENDOR_FILES)) $(VENDOR)/; \
	for dir in $(VENDOR_DIRS); do rm -rf $(VENDOR)/$$(basename $$dir); cp -R $(BPMN_JS)/$$dir $(VENDOR)/; done; \
	rm -f $(VENDOR)/.copied-*; touch $@

assets: $(ASSETS_STAMP)

## make run: install, migrate, deploy bpmn/, seed the demo, serve on http://127.0.0.1:5000
run: install assets
	mkdir -p instance
	$(BIN)/hedui db upgrade
	$(BIN)/hedui calendar seed --provisional
	$(BIN)/hedui bpmn deploy
	$(BIN)/hedui demo
	HEDUI_EXCHANGE_SIMULATOR=on $(BIN)/hedui run --host $(HOST) --port $(PORT)

## make test: install, run the static checks (make check) and the whole suite (SQLite; PostgreSQL too when
## HEDUI_TEST_DATABASE_URL is set), spread over the machine's cores by pytest-xdist (WORKERS=0: one process)
WORKERS ?= auto
test: install assets check
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) \
	  || echo "chromium unavailable: browser tests will be skipped"
	@fc-list :lang=zh 2>/dev/null | grep -q . || (apt-get install -y fonts-wqy-microhei) \
	  || echo "no Chinese font: the browser tests' screenshots will show boxes instead of text"
	$(BIN)/python -m pytest -n $(WORKERS) $(PYTEST_ARGS)

## make bench: measure the engine, audit replay, data exchange, web pages, batches and migration; write BENCHMARKS.md
## (PostgreSQL too when HEDUI_BENCH_DATABASE_URL names a server: a scratch database is created there)
## the audit bench: the demo + AUDIT_CASES cases, AUDIT_DRIVEN of them driven through the services, the rest copies
AUDIT_CASES ?= 10000
AUDIT_DRIVEN ?= 1000
## the batch re-verification bench: households started by one batch (the issue's goal is 100000: about an hour here)
BATCH_HOUSEHOLDS ?= 10000
## the version-migration bench: running cases planned and migrated (版本迁移)
MIGRATION_CASES ?= 2000
bench: install
	$(BIN)/python -m tests.perf.bench_engine --out BENCHMARKS.md $(BENCH_ARGS)
	$(BIN)/python -m tests.perf.bench_audit --cases $(AUDIT_CASES) --driven $(AUDIT_DRIVEN) --out BENCHMARKS.md
	$(BIN)/python -m tests.perf.bench_exchange_media --out BENCHMARKS.md
	$(BIN)/python -m tests.perf.bench_exchange_flow --out BENCHMARKS.md
	$(BIN)/python -m tests.perf.bench_pages --out BENCHMARKS.md
	$(BIN)/python -m tests.perf.bench_batch --households $(BATCH_HOUSEHOLDS) --out BENCHMARKS.md
	$(BIN)/python -m tests.perf.bench_migration --cases $(MIGRATION_CASES) --out BENCHMARKS.md

## make screenshots: regenerate the README's docs/screenshots/*.png (Chromium, 1366x768; needs a CJK font)
screenshots: install assets
	@fc-list :lang=zh 2>/dev/null | grep -q . || (apt-get install -y fonts-wqy-microhei) \
	  || echo "no Chinese font: the screenshots will show boxes instead of text"
	HEDUI_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/test_screenshots.py

## make lint: lint the diagrams in bpmn/ (hedui bpmn lint --strict: deploy's errors and the lint's warnings both
## fail); it reads the role catalogue, so the schema is brought up to date first (as make run does)
lint: install
	mkdir -p instance
	$(BIN)/hedui db upgrade
	$(BIN)/hedui bpmn lint --strict

## make check: the Python code's static checks, configured in pyproject.toml: ruff (engine, web, forms, tests) and
## mypy --strict on engine/ and web/ (and the forms/ they import); separate from make lint, which checks the diagrams
check: install
	$(BIN)/ruff check engine web forms tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache
	rm -rf node_modules $(VENDOR)
