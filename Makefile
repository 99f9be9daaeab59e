# Two entry points for a newcomer: `make demo` (the main job end to end) and `make test`.
# Both create .venv with the exact versions of constraints.txt first (every extra: train,
# serve, onnx, plot, test, pq); nothing else needs installing. Off a machine that holds the CPU
# wheel of torch, run as `make test PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"`.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := train,serve,onnx,plot,test,pq
PIP_ARGS ?=
# Real datasets: ../shared/datasets when this checkout sits beside it, else the loaders'
# own default (ELASTICREC_DATA, else the user cache, downloading what is missing).
SHARED_DATA := $(wildcard ../shared/datasets)
ifneq ($(SHARED_DATA),)
export ELASTICREC_DATA ?= $(abspath $(SHARED_DATA))
endif

.PHONY: demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/elasticrec demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

bench: $(STAMP)
	PYTHON=$(BIN)/python benchmarks/run_all.sh

clean:
	rm -rf $(VENV) .pytest_cache
