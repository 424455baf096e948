# keyframe pose: `make run` starts the app (the bundled demo when no camera is there), `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
MMPOSE_STAMP := $(VENV)/.installed-mmpose

.PHONY: run system-libs test bench evaluate train clean-venv

$(STAMP): requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

# Ray (the headless command with --ray) is optional: the tests and benchmarks need it, the app does not.
$(RAY_STAMP): $(STAMP) requirements-ray.txt
	$(PY) -m pip install --quiet -r requirements-ray.txt
	touch $(RAY_STAMP)

# The optional mmpose estimator: tested and benchmarked on every change, left out of `make run`.
$(MMPOSE_STAMP): $(STAMP) requirements-mmpose.txt requirements-mmpose-nodeps.txt
	$(PY) -m pip install --quiet -r requirements-mmpose.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-mmpose-nodeps.txt
	touch $(MMPOSE_STAMP)

# The window needs system libraries on Linux that pip cannot install (Qt's xcb platform):
# where some are missing, they are installed with apt-get, saying so.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

run: $(STAMP) system-libs
	$(PY) run_app.py

system-libs: $(STAMP)
	@missing="$$($(PY) -m app.system)"; \
	if [ -n "$$missing" ]; then \
		echo "The window needs system libraries that are missing; the packages: $$missing"; \
		if command -v apt-get > /dev/null; then \
			echo "Installing them: $(SUDO) apt-get install -y --no-install-recommends $$missing"; \
			$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing \
				|| { echo "apt-get failed: install $$missing yourself (README, 'Two commands')"; exit 1; }; \
		else \
			echo "No apt-get here: install the packages providing them with your package manager"; exit 1; \
		fi; \
	fi

test: $(STAMP) $(RAY_STAMP) $(MMPOSE_STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q --durations=15 tests

evaluate: $(STAMP)
	$(PY) -m pipeline.evaluate --all --update-cards --latency-table --doc docs/refiner.md

bench: $(STAMP) $(RAY_STAMP) $(MMPOSE_STAMP)
	$(PY) bench/run_all.py

clean-venv:
	rm -rf $(VENV)
