# Two commands: `make demo` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DURATION ?= 1000
# the venv's tools first: PyNN compiles its NEURON mechanisms with the venv's nrnivmodl
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test prerequisites clean

$(STAMP): setup.cfg pyproject.toml
	@$(MAKE) --no-print-directory prerequisites
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all,test]"
	$(PY) -c "import pyNN.neuron" >/dev/null  # compiles PyNN's NEURON mechanisms once
	@touch $(STAMP)

prerequisites:
	@missing=""; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3"; \
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	if [ -n "$$missing" ]; then \
	  echo "Missing system packages:$$missing"; \
	  echo "Install them with: sudo apt-get install$$missing"; exit 1; fi; \
	$(PYTHON) -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" || \
	  { echo "Python 3.11 is required ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }

demo: $(STAMP)
	$(PY) examples/red_wong_wang.py --simulator nest --duration $(DURATION) --out results

# two workers (CI has 2 cores); a test file stays in one worker, with its fixtures and caches
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

clean:
	rm -rf $(VENV) results
