# The README's two commands: `make demo` (main job on built-in defaults) and `make test` (the test suite).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench lint validate-tasks
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m claw_trainer.cli demo

test: setup
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

validate-tasks: setup
	$(PY) -m claw_trainer.cli tasks validate tasks/terminal

bench: setup
	$(PY) bench/terminal.py

lint: setup
	.venv/bin/ruff check claw_envs claw_trainer tests bench
