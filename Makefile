# The two commands of the README. Each makes .venv when missing and installs into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint vectors bench fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/intentcast demo

# mypy cannot follow setuptools' editable-install finder, so it reads the package through a
# link tree: .venv/typecheck/intentcast -> this folder, then intentcast.protocol is protocol/.
TYPECHECK := $(VENV)/typecheck

lint: $(STAMP)
	$(BIN)/ruff check .
	mkdir -p $(TYPECHECK) && ln -sfn "$(CURDIR)" $(TYPECHECK)/intentcast
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy --strict -p intentcast.protocol -p intentcast.agents
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy --strict examples
	$(BIN)/lint-imports --no-cache

vectors: $(STAMP)
	$(BIN)/python scripts/make_vectors.py
	$(BIN)/python scripts/make_openapi.py

bench: $(STAMP)
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_net.py

# Every decoder a peer's bytes reach, under atheris: FUZZ_SECONDS per target (default 20),
# FUZZ_JOBS at once; a crash fails with its input saved as hex (tests/fuzz/run.py).
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/run.py

clean:
	rm -rf $(VENV) build *.egg-info
