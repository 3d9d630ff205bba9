# Kizuna - the two commands of the quick start are `make demo` and `make test`.
# Both install everything into .venv from this repo's own files (pyproject + constraints).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-future lint typecheck unit bench local clean line-schema

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kizuna needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/kizuna demo

lint: install
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench

typecheck: install
	$(BIN)/mypy services tests bench

unit: install
	$(BIN)/pytest -q

test: lint typecheck unit

# The suite again with the machine's clock a year ahead: proves that no test depends on
# today's date. time-machine moves the test process's clock (time.time, datetime.now, ...);
# Debian's libfaketime cannot run this suite: under it Python 3.11's time.sleep fails with
# EINVAL when monotonic time stays real, and lock waits hang when it is faked too.
test-future: install
	KIZUNA_TEST_TRAVEL_DAYS=365 $(BIN)/pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/dynamodb_requests.py
	$(BIN)/python bench/messenger_requests.py
	$(BIN)/python bench/dispatch_throughput.py
	$(BIN)/python bench/journey_dispatch.py --enrolments 10000
	$(BIN)/python bench/import_throughput.py --rows 200000
	$(BIN)/python bench/segments_recompute.py
	$(BIN)/python bench/nightly_rfm.py
	$(BIN)/python bench/nightly_fanout.py --customers 100000
	$(BIN)/python bench/analytics_reports.py
	$(BIN)/python bench/clv_fit.py
	$(BIN)/python bench/console_pages.py

# The JSON Schema of LINE message bodies the messenger vendors, from LINE's OpenAPI file.
line-schema: install
	$(BIN)/python -m tests.messenger.line_spec

local: install
	$(BIN)/kizuna local up

clean:
	rm -rf $(VENV) .kizuna .pytest_cache .mypy_cache .ruff_cache
