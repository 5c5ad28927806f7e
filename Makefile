# maeum: `make train` runs the main job, `make test` runs lint and tests. Each installs what it needs
# into the active Python environment first (a virtualenv is recommended).
#
#   make train ARGS="experiment=emotion/sample_tiny trainer.max_epochs=5"
#   make test PYTEST_ARGS="-m slow"
#
# torch: when none is installed, `$(TORCH)` is installed first. The default pin takes the CPU wheel on
# maeum's machines; elsewhere add TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu" for
# the CPU build, or install the torch you want (e.g. CUDA) before running make: it is kept.

PYTHON ?= python3
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install train test lint format clean

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH)"
	$(PYTHON) -m pip install -q -e ".[dev]"

train: install
	$(PYTHON) -m maeum.train $(ARGS)

test: install lint
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

clean:
	rm -rf logs .pytest_cache .ruff_cache
