# The two commands: `make run` (the bot; the local sandbox without Slack credentials) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench check clean browser screenshot redis-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m sandbox.run

test: $(STAMP) browser redis-server
	$(BIN)/python -m pytest

# The README's picture: the browser test's story, saved as docs/sandbox-channel.png instead of build/.
screenshot: $(STAMP) browser
	CFTOKEN_SCREENSHOT=docs/sandbox-channel.png $(BIN)/python -m pytest -q tests/e2e/test_sandbox_browser.py

# The e2e browser test drives Debian's headless Chromium through Debian's driver (nothing is downloaded at test
# time); the emoji font makes the README's screenshot show what Slack shows.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null; \
		else \
			echo "The browser test needs Debian's chromium and chromium-driver: sudo apt-get install chromium chromium-driver fonts-noto-color-emoji"; exit 1; \
		fi; \
	fi

# The Redis-loss tests start and restart a redis-server of their own (never the one at REDIS_URL).
redis-server:
	@if ! command -v redis-server >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
		else \
			echo "The Redis-loss tests need redis-server: sudo apt-get install redis-server"; exit 1; \
		fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

# The benchmarks start a redis-server of their own (installed here as root when missing), else a labelled fakeredis.
bench: $(STAMP)
	@command -v redis-server >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || true
	$(BIN)/python -m bench

check: $(STAMP)
	$(BIN)/cftoken check

clean:
	rm -rf $(VENV) .pytest_cache build
