# The README's two commands: `make demo` (main job on built-in defaults) and `make test` (the test suite).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench bench-judge lint validate-tasks images
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m claw_trainer.cli train --config configs/demo.yaml --train.output_dir runs/demo-$$(date +%Y%m%d-%H%M%S)

# The docker backend's images, built offline (debootstrap base + env_images/terminal); a no-op when cached.
images: setup
	$(PY) -m claw_trainer.cli images build

test: setup
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

validate-tasks: setup
	$(PY) -m claw_trainer.cli tasks validate --family terminal
	$(PY) -m claw_trainer.cli tasks validate --family toolcall
	$(PY) -m claw_trainer.cli swe-validate
	$(PY) -m claw_trainer.cli tasks validate --family gui

bench: setup
	$(PY) bench/terminal.py
	$(PY) bench/trainer.py
	$(PY) bench/async_loops.py
	$(PY) bench/toolcall.py
	$(PY) bench/swe.py
	$(PY) bench/gui.py
	$(PY) bench/hosting.py
	$(PY) bench/gate.py

bench-judge: setup
	$(PY) bench/judge.py

lint: setup
	.venv/bin/ruff check claw_envs claw_trainer tests bench
