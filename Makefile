# The two commands every newcomer needs: `make run` and `make test`. Both call `make setup`,
# which installs what is missing (system packages, the virtualenv, Kafka's jars) and is quick
# when everything is already there.

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JARS   := .kairos/kafka/libs/.pom-sha256
POM    := src/kairos/kafka/resources/pom.xml
# the compiled decision path (Rust): built with cargo into the virtualenv
NATIVE := native/pyproject.toml native/Cargo.toml native/Cargo.lock native/kairos_native.pyi \
	$(wildcard native/src/*.rs)

.PHONY: setup compiled run test lint format bench clean help constraints

help:
	@echo "make run    start the whole platform on this machine (broker, database, API)"
	@echo "make test   lint, type-check and run the whole test suite (Kafka and PostgreSQL too)"
	@echo "make bench  run every benchmark, JSON reports in bench-results/"

setup: $(STAMP) $(JARS) compiled

# the decision path's Python modules compiled by mypyc (`kairos.compiled` lists them), into the
# virtualenv; quick when they are built from the sources as they are, which it checks itself
compiled: $(STAMP)
	$(BIN)/kairos compile

# constraints.txt pins every Python package to the versions the suite last passed with, so a
# clean checkout installs exactly what was tested (refresh it with `make constraints`).
# The virtualenv is made again when the interpreter scripts/python.sh picks has changed.
$(STAMP): pyproject.toml constraints.txt scripts/ensure-system.sh scripts/python.sh $(NATIVE)
	scripts/ensure-system.sh
	python="$$(scripts/python.sh)"; \
	if [ ! -x $(BIN)/python ] || [ "$$(cat $(VENV)/.interpreter 2>/dev/null)" != "$$python" ]; then \
		rm -rf $(VENV) && "$$python" -m venv $(VENV) && echo "$$python" > $(VENV)/.interpreter; \
	fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	PATH="$$PATH:$$HOME/.cargo/bin" $(BIN)/python -m pip install -q --force-reinstall --no-deps ./native
	touch $(STAMP)

constraints: setup
	$(BIN)/python -m pip install -q --upgrade -e '.[dev]'
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

$(JARS): $(STAMP) $(POM)
	$(BIN)/kairos kafka fetch

run: setup
	$(BIN)/kairos up

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	cd native && PATH="$$PATH:$$HOME/.cargo/bin" cargo fmt --check
	cd native && PATH="$$PATH:$$HOME/.cargo/bin" cargo clippy --release -q -- -D warnings

format: setup
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

test: lint
	KAIROS_TEST_POSTGRES_URL="$$(scripts/postgres.sh)" KAIROS_REQUIRE_POSTGRES=1 \
		$(BIN)/pytest

bench: setup
	mkdir -p bench-results
	$(BIN)/kairos bench ingest --json bench-results/ingest.json
	$(BIN)/kairos bench freshness --json bench-results/freshness.json
	$(BIN)/kairos bench stream --json bench-results/stream.json
	$(BIN)/kairos bench featurestore --json bench-results/featurestore.json
	$(BIN)/kairos bench decisions --json bench-results/decisions.json
	$(BIN)/kairos bench personalize --json bench-results/personalize.json

clean:
	rm -rf $(VENV) .kairos .pytest_cache .mypy_cache .ruff_cache native/target
