# The two commands of the README. Each makes .venv when missing and installs into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint vectors bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/intentcast demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict protocol agents

vectors: $(STAMP)
	$(BIN)/python scripts/make_vectors.py
	$(BIN)/python scripts/make_openapi.py

bench: $(STAMP)
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_net.py

clean:
	rm -rf $(VENV) build *.egg-info
