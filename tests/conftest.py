import pytest

from claw_envs.sandbox.local import local_sandbox_unavailable

_LOCAL_REASON = local_sandbox_unavailable()
needs_local = pytest.mark.skipif(_LOCAL_REASON is not None, reason=f"local sandbox: {_LOCAL_REASON}")


def docker_unavailable() -> str | None:
    from claw_envs.sandbox.docker import docker_unavailable as why

    return why()


@pytest.fixture
def local_sandbox():
    if _LOCAL_REASON:
        pytest.skip(f"local sandbox: {_LOCAL_REASON}")
    from claw_envs.sandbox.local import LocalSandbox

    sb = LocalSandbox()
    sb.start()
    yield sb
    sb.close()


# The sandbox suites run twice: here (as whoever runs pytest) and, from tests/test_sandbox_unprivileged.py,
# again as an unprivileged user. Their per-test outcomes are kept on the config (and written to the file
# named by CLAW_SANDBOX_OUTCOMES, for the unprivileged run) so the two runs can be compared.
SANDBOX_SUITES = ("tests/test_sandbox_conformance.py", "tests/test_hostile.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if item.nodeid.startswith(SANDBOX_SUITES) and (report.when == "call" or report.outcome != "passed"):
        if not hasattr(item.config, "_claw_sandbox_outcomes"):
            item.config._claw_sandbox_outcomes = {}
        item.config._claw_sandbox_outcomes[item.nodeid] = report.outcome
    return report


def pytest_sessionfinish(session):
    import json
    import os

    path = os.environ.get("CLAW_SANDBOX_OUTCOMES")
    if path:
        with open(path, "w") as f:
            json.dump(getattr(session.config, "_claw_sandbox_outcomes", {}), f)


# Test modules that start a Ray cluster in-process run in their own interpreter (tests/test_ray_isolated.py):
# seen in the full suite, Ray's gRPC client hung for good in `ray.init` (GcsClient.FetchClusterId, a C++ wait
# that pytest-timeout cannot interrupt) inside the long-lived test process that had forked hundreds of sandboxes
# and servers before, while the same modules pass alone. A fresh interpreter keeps the suite from hanging.
RAY_MODULES = ("test_ray_hosting.py", "test_ray_placement.py")


def pytest_ignore_collect(collection_path, config):
    import os

    if collection_path.name in RAY_MODULES and not os.environ.get("CLAW_RAY_CHILD"):
        explicit = any(str(a).split("::")[0].endswith(collection_path.name) for a in config.args)
        return not explicit  # named on the command line: run here; in a whole-suite run: in the child
    return None
