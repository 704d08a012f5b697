# Two commands do all the set-up on a fresh machine with Python 3.11+ and git:
#   make demo   creates .venv, installs pertitle, analyses a bundled sample and prints its ladder
#   make test   installs, then runs lint (ruff), types (mypy) and the test suite (pytest)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= samples/sintel_anim_854x480_2s_moviepy.mp4

.PHONY: install demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pertitle doctor
	$(BIN)/pertitle analyze $(DEMO) --out out/demo

lint: $(STAMP)
	$(BIN)/ruff check pertitle tests benchmarks
	$(BIN)/ruff format --check pertitle tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy pertitle

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

test: lint typecheck
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
