# make run: the main job; make test: the test suite. Both create .venv and install on first use:
# the jobs need the 'experiments' extra only, the tests also the dev tools and the interop frameworks.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# Datasets: $EVSIM_DATA if set, else ../shared/data beside the checkout (offline machines), else data/.
EVSIM_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(CURDIR)/data)
export EVSIM_DATA

.PHONY: run fashion cifar test bench bench-resnet bench-training install bytecode chromium clean lava

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned: 2.13.0 is a CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet --no-compile -e '.[experiments]'
	# torchattacks' declared requirements would downgrade requests and pull CUDA torch: it needs
	# only torch, numpy and scipy at run time
	$(PY) -m pip install --quiet --no-deps torchattacks==3.5.1
	$(MAKE) --no-print-directory bytecode
	touch $@

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[experiments,dev]'
	# the NIR interchange tests and scenario check evsim against snnTorch, Norse and SpikingJelly, and
	# evsim.metrics.neurobench against the NeuroBench harness; their declared requirements would replace
	# the pinned torch (SpikingJelly's also pull torchvision; NeuroBench's torchaudio and tonic, which its
	# metrics, models and Benchmark never import)
	$(PY) -m pip install --quiet --no-deps snntorch==1.0.0 nirtorch==2.6 norse==1.1.0 spikingjelly==2.0.0 loguru==0.7.3 \
	  neurobench==2.3.0
	# the Speck and Xylo arithmetic checks (tests/test_speck.py, tests/test_xylo.py): sinabs pins nir<=1.0.4
	# and declares samna (only its DYNAP-CNN chip back end imports it; its simulation layers need pbr);
	# xylosim (SynSense's C++ Xylo simulator) is a source package: its build needs a C++ compiler, and
	# where it fails the install goes on and tests/test_xylo.py skips, saying why
	$(PY) -m pip install --quiet --no-deps sinabs==3.1.3 pbr==7.1.3
	-$(PY) -m pip install --quiet --no-deps xylosim==0.1.3
	# Lava's own Python 3.10 environment, for the bit-exact Loihi tests (about 35 s); where it cannot be
	# made (no Python 3.10, no registry) the install goes on and tests/test_lava.py skips, saying why
	-$(MAKE) --no-print-directory lava
	$(MAKE) --no-print-directory bytecode
	# the report test's browser, where this machine can install it (it skips without one)
	-$(MAKE) --no-print-directory chromium
	touch $@

# Bytecode for everything installed, written once. Where PYTHONDONTWRITEBYTECODE is set (as on our
# CI machines) Python never writes it and recompiles torch's sources in every process: about 13 s
# per interpreter start (a scenario subprocess took 24 s, 12 s with bytecode). compileall writes it
# whatever that variable says; it reports the few vendored files that are not Python 3 (ignored).
bytecode:
	-$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null

install: $(STAMP)

# the main job: the paper's Fig. 2 (quick settings), stored in results/fig2.h5, drawn, and reported
# as one page to open (results/fig2.html)
run: $(RUN_STAMP)
	$(PY) -m scenarios fig2
	$(PY) -m scenarios plot results/fig2.h5
	$(PY) -m scenarios report results/fig2.h5

# paper Figs. 3 and 4 on Fashion-MNIST (quick settings; they share their models)
fashion: $(RUN_STAMP)
	$(PY) -m scenarios fig3
	$(PY) -m scenarios fig4
	$(PY) -m scenarios plot results/fig3.h5 results/fig4.h5
	$(PY) -m scenarios report results/fig3.h5 results/fig4.h5

# paper Fig. 5 on CIFAR-10 (quick settings: narrow ResNet18s, see the README)
cifar: $(RUN_STAMP)
	$(PY) -m scenarios fig5
	$(PY) -m scenarios plot results/fig5.h5
	$(PY) -m scenarios report results/fig5.h5

bench: $(RUN_STAMP)
	$(PY) -m scenarios bench_engine

# the deep-network benchmark: a ResNet18 SNN on the CIFAR-10 test set
bench-resnet: $(RUN_STAMP)
	$(PY) -m scenarios bench_resnet

# the training benchmark: our Act-BP and Temp-BP against snnTorch (MLP) and SpikingJelly (ResNet18), both
# installed with the test tools ($(STAMP): --no-deps, their declared requirements would replace torch)
bench-training: $(STAMP)
	$(PY) -m scenarios bench_training

# headless Chromium for tests/test_report.py (the report page as a browser shows it; the test skips,
# saying so, without it). Debian's package, installed only as root on a machine with apt-get:
# elsewhere install it yourself, or point EVSIM_CHROMIUM at a Chromium or Chrome binary
chromium:
	@if [ -n "$$EVSIM_CHROMIUM" ] || command -v chromium > /dev/null || command -v chromium-browser > /dev/null; then \
	  echo "chromium is installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else \
	  echo "make chromium: needs root and apt-get (Debian); install Chromium yourself or set EVSIM_CHROMIUM"; \
	  exit 1; \
	fi

# the tests run in one pytest-xdist worker per core, each pinned to its core (tests/conftest.py), a
# test file per worker at a time (its module fixtures run once)
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir $(VENV)/site
	$(PY) -m compileall -q evsim bridges scenarios tests > /dev/null
	# compile the Numba kernels once, so that the test workers load them instead of each compiling
	# them again: the engine's first (two processes), the training kernels beside the torch-free half
	$(PY) -m evsim.engine.precompile --jobs 2
	$(PY) -m bridges.neuron_kernels & kernels=$$!; \
	  $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --torch-free && wait $$kernels
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --skip-torch-free

# Lava 0.10 (Intel's bit-accurate Loihi models), for tests/test_lava.py: it needs Python 3.10 and
# numpy < 2 (on 3.11 it fails at import), so it gets its own environment. Its declared requirements
# pin old versions of much else: the few it needs at run time are installed first, then lava-nc
# without its dependencies. The tests skip, saying so, where .venv-lava does not exist.
PYTHON310 ?= $(HOME)/.pyenv/versions/3.10.13/bin/python
LAVA_VENV := .venv-lava
LAVA_STAMP := $(LAVA_VENV)/.installed
lava: $(LAVA_STAMP)

$(LAVA_STAMP):
	@test -x $(PYTHON310) || { echo "make lava: no Python 3.10 at $(PYTHON310) (Lava 0.10 needs 3.10); set PYTHON310=..."; exit 1; }
	$(PYTHON310) -m venv $(LAVA_VENV)
	$(LAVA_VENV)/bin/python -m pip install --quiet 'numpy<2' scipy 'asteval<0.10' 'networkx<=2.8.7' scikit-learn
	$(LAVA_VENV)/bin/python -m pip install --quiet --no-deps lava-nc==0.10.0
	$(LAVA_VENV)/bin/python -c "from lava.proc.lif.process import LIF; from lava.magma.core.run_configs import Loihi2SimCfg"
	touch $@

clean:
	rm -rf $(VENV) $(LAVA_VENV) results .pytest_cache .hypothesis
