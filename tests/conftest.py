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
