"""Every Python and shell example in README.md runs, through Sybil (see the README's "Testing the README").

* ```` ```python ```` blocks run in order in one namespace (as a reader would paste them one after another), in
  a fresh working directory; what a block prints must match the ```` ```text ```` block right after it, if one
  follows (``...`` matches anything, whitespace runs compare equal — doctest's ELLIPSIS and NORMALIZE_WHITESPACE).
* ```` ```bash ```` blocks run with ``bash -euo pipefail`` from the repository root with the venv's ``bin`` first
  on ``PATH`` (what ``source .venv/bin/activate`` gives); they must exit 0.
* ```` ```json ```` blocks must parse.
* ``<!-- skip: next "reason" -->`` skips the next block with that reason (a GPU, minutes of CPU, a server that
  runs until stopped); ``skip: next if(missing("gui"), reason=...)`` skips when a system component is absent.
  ``<!-- invisible-code-block: python -->`` blocks are set-up a reader does not need to see (e.g. starting the
  env server the OpenEnv client example talks to).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import SkipTest

import pytest
from sybil import Sybil
from sybil.parsers.markdown import ClearNamespaceParser, CodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
OUTPUT = "__readme_output__"


def missing(component: str) -> bool:
    """True when a system component an example needs is absent (the example is then skipped, with a reason)."""
    from claw_envs.sandbox.local import local_sandbox_unavailable

    if component == "sandbox":
        return local_sandbox_unavailable() is not None
    if component == "gui":
        from claw_envs.gui.display import display_unavailable

        return missing("sandbox") or display_unavailable() is not None or shutil.which("chromium") is None
    if component in ("trl", "swebench", "openenv", "ray", "openai"):
        import importlib.util

        return importlib.util.find_spec({"openenv": "openenv"}.get(component, component)) is None
    raise ValueError(f"unknown component {component!r}")


def run_python(example) -> None:
    buf = io.StringIO()
    code = compile(example.parsed, f"{README.name}:{example.line}", "exec")
    with contextlib.redirect_stdout(buf):
        exec(code, example.namespace)
    example.namespace[OUTPUT] = (example.line, buf.getvalue())


def check_output(example) -> None:
    line, got = example.namespace.pop(OUTPUT, (None, None))
    if line is None or line != AFTER_PYTHON.get(example.line):  # its python block did not run, or there is none
        if example.line in AFTER_PYTHON:
            raise SkipTest("the python block this output belongs to did not run (skipped, or failed: see there)")
        raise AssertionError(f"README.md:{example.line}: a text block must follow a python block (the output "
                             "of what it prints)")
    if not doctest.OutputChecker().check_output(example.parsed, got, FLAGS):
        raise AssertionError(f"README.md:{line}: the example printed\n{got}\nbut the README shows\n{example.parsed}")


def run_bash(example) -> None:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "VIRTUAL_ENV": str(VENV_BIN.parent), "TRL_EXPERIMENTAL_SILENCE": "1"}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", example.parsed], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, (f"README.md:{example.line}: exit {r.returncode}\n--- stdout\n{r.stdout[-3000:]}"
                               f"\n--- stderr\n{r.stderr[-3000:]}")


def check_json(example) -> None:
    json.loads(example.parsed)


SYBIL = Sybil(parsers=[CodeBlockParser("python", run_python), CodeBlockParser("text", check_output),
                       CodeBlockParser("bash", run_bash), CodeBlockParser("json", check_json), SkipParser(),
                       ClearNamespaceParser()], filenames=["README.md"])
DOCUMENT = SYBIL.parse(README)
EXAMPLES = list(DOCUMENT.examples())


def _kind(example) -> str:
    return getattr(example.region.evaluator, "__name__", type(example.region.evaluator).__name__)


# text block line -> the line of the python block right before it (only skip directives in between)
AFTER_PYTHON = {}
for _i, _e in enumerate(EXAMPLES):
    _prev = next((p for p in reversed(EXAMPLES[:_i]) if _kind(p) != "Skipper"), None)
    if _kind(_e) == "check_output" and _prev is not None and _kind(_prev) == "run_python":
        AFTER_PYTHON[_e.line] = _prev.line


@pytest.fixture(scope="module", autouse=True)
def fresh_directory(tmp_path_factory):
    """Python examples run where a newcomer would paste them: an empty directory, not the repository."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("readme"))
    DOCUMENT.namespace.update(missing=missing, __name__="__readme__")
    yield
    cleanup = DOCUMENT.namespace.get("_readme_cleanup")
    if cleanup is not None:
        cleanup()
    os.chdir(before)


def _id(example) -> str:
    return f"line{example.line}-{_kind(example)}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("example", EXAMPLES, ids=[_id(e) for e in EXAMPLES])
def test_readme_example(example):
    example.evaluate()


def test_readme_has_examples_and_every_python_block_is_complete():
    """The examples are there, and none steps an env it never reset (``reset()`` before ``step()``)."""
    blocks = [e for e in EXAMPLES if _kind(e) == "run_python"]
    assert len(blocks) >= 8
    for e in blocks:
        src = e.parsed
        if ".step(" in src:
            assert ".reset(" in src, f"README.md:{e.line}: step() without reset() in the same example"
        if "make(" in src or "make_vec(" in src or "Env(" in src:
            assert "with " in src or ".close()" in src, f"README.md:{e.line}: an env is made and never closed"
