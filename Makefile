# Two commands: `make demo` and `make test`. Both set up a virtual environment when needed.
#
# PYTHON picks the interpreter (python3.11, python3.12 or python3.13; a pyenv version that is
# installed but not active is found too). The exact versions installed come from the lock of
# that Python, requirements/py3.X.txt (regenerate with `make lock`); setup.cfg holds the ranges.
PYTHON ?= python3
SUPPORTED_PYTHONS := 3.11 3.12 3.13
# The interpreter itself: PYTHON if it runs, else the pyenv version that has it.
PYTHON_EXE := $(shell if $(PYTHON) -c "" >/dev/null 2>&1; then command -v $(PYTHON); \
  elif command -v pyenv >/dev/null 2>&1; then \
    for d in "$$(pyenv root)"/versions/*/bin; do \
      if [ -x "$$d/$(PYTHON)" ]; then echo "$$d/$(PYTHON)"; break; fi; done; fi)
PY_VERSION := $(if $(PYTHON_EXE),$(shell $(PYTHON_EXE) -c "import sys; print('%d.%d' % sys.version_info[:2])"))
LOCK := requirements/py$(PY_VERSION).txt
# .venv for the default Python, .venv-3.X for another one, so that switching keeps both.
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(PY_VERSION))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PIP_VERSION := 26.3
DURATION ?= 1000
# the venv's tools first: PyNN compiles its NEURON mechanisms with the venv's nrnivmodl
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# NESTML builds NEST extension modules against these headers (Debian package:header), the
# ones NEST's own headers include; the check asks the C++ compiler, as the build will.
NESTML_HEADERS := libgsl-dev:gsl/gsl_odeiv.h libboost-dev:boost/tuple/tuple.hpp libltdl-dev:ltdl.h

.PHONY: demo test smoke smoke-other-pythons prerequisites system-packages lock clean

# the build tools pip may use for a package that comes as source only (NESTML's odetoolbox)
BUILD_CONSTRAINTS := requirements/build-constraints.txt

$(STAMP): setup.cfg pyproject.toml $(LOCK) $(BUILD_CONSTRAINTS)
	@$(MAKE) --no-print-directory prerequisites
	$(PYTHON_EXE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==$(PIP_VERSION)"
	$(PY) -m pip install --quiet -c $(LOCK) --build-constraint $(BUILD_CONSTRAINTS) -e ".[all,test]"
	$(PY) -c "import pyNN.neuron" >/dev/null  # compiles PyNN's NEURON mechanisms once
	@touch $(STAMP)

prerequisites:
	@if [ -z "$(PYTHON_EXE)" ]; then \
	  echo "PYTHON=$(PYTHON) was not found. Fix: install it (Debian: sudo apt-get install python3)" \
	       "or pass PYTHON=python3.11, python3.12 or python3.13."; exit 1; fi
	@if [ ! -f "$(LOCK)" ]; then \
	  echo "PYTHON=$(PYTHON) is Python $(PY_VERSION); the supported versions are" \
	       "$(SUPPORTED_PYTHONS) (requirements/py3.X.txt). Fix: pass PYTHON=python3.11, 3.12 or 3.13."; \
	  exit 1; fi
	@missing=""; \
	$(PYTHON_EXE) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	if [ -n "$$missing" ]; then \
	  echo "Missing system packages:$$missing"; \
	  echo "Install them with: sudo apt-get install$$missing"; exit 1; fi
	@$(MAKE) --no-print-directory system-packages

# The headers NESTML's generated code needs. Installed here when make runs as root with apt-get
# (a fresh CI machine); otherwise make stops and prints the command.
system-packages:
	@missing=""; for p in $(NESTML_HEADERS); do \
	  echo "#include <$${p#*:}>" | g++ -x c++ -E -o /dev/null - 2>/dev/null \
	    || missing="$$missing $${p%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing the headers NESTML's models compile against:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q$$missing >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q$$missing >/dev/null; } \
	      || { echo "apt-get could not install$$missing"; exit 1; }; \
	  else \
	    echo "Missing system packages (NESTML's models compile against them):$$missing"; \
	    echo "Install them with: sudo apt-get install$$missing"; exit 1; fi; fi

demo: $(STAMP)
	$(PY) examples/red_wong_wang.py --simulator nest --duration $(DURATION) --out results

# two workers (CI has 2 cores); a test file stays in one worker, with its fixtures and caches,
# and files go out in collection order, the longest first (tests/conftest.py)
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
# The other supported Pythons, on which `make test` runs the smoke subset (SMOKE_PYTHONS= skips).
SMOKE_PYTHONS ?= $(filter-out python$(PY_VERSION),$(addprefix python,$(SUPPORTED_PYTHONS)))

test: $(STAMP)
	$(PY) -m pytest $(XDIST) --durations=25
	@$(MAKE) --no-print-directory smoke-other-pythons

# the tests marked smoke (setup.cfg): the use case on each of the four simulators, W3,
# the save/load round trips, the command line, a NESTML model compiled, cached and run
smoke: $(STAMP)
	$(PY) -m pytest $(XDIST) -m smoke --durations=10

smoke-other-pythons:
	@for p in $(SMOKE_PYTHONS); do \
	  if $(MAKE) --no-print-directory -s PYTHON=$$p print-python >/dev/null 2>&1; then \
	    echo "== the smoke subset on $$p"; \
	    $(MAKE) --no-print-directory smoke PYTHON=$$p || exit 1; \
	  else echo "== $$p was not found: the smoke subset did not run on it" \
	            "(install it to check that Python too, e.g. with pyenv)"; fi; done

print-python:
	@test -n "$(PYTHON_EXE)" && echo $(PYTHON_EXE)

# Regenerate the locks from setup.cfg's ranges (needs network access to the package index);
# versions already in a lock are kept where the ranges allow.
lock:
	$(PYTHON_EXE) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet "uv==0.13.9"
	for v in $(SUPPORTED_PYTHONS); do \
	  .venv-lock/bin/uv pip compile setup.cfg --extra all --extra test --python-version $$v \
	    --build-constraints $(BUILD_CONSTRAINTS) \
	    --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line --quiet \
	    -o requirements/py$$v.txt || exit 1; done

clean:
	rm -rf $(VENV) .venv-3.1* .venv-lock results
