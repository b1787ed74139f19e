import pytest

from claw_envs.sandbox.local import local_sandbox_unavailable

_LOCAL_REASON = local_sandbox_unavailable()
needs_local = pytest.mark.skipif(_LOCAL_REASON is not None, reason=f"local sandbox: {_LOCAL_REASON}")


def docker_unavailable() -> str | None:
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install 'claw-gym[docker]')"
    try:
        docker.from_env(timeout=3).ping()
    except Exception as e:  # noqa: BLE001
        return f"no Docker engine answers ({type(e).__name__}); the docker backend is tested where one runs"
    return None


@pytest.fixture
def local_sandbox():
    if _LOCAL_REASON:
        pytest.skip(f"local sandbox: {_LOCAL_REASON}")
    from claw_envs.sandbox.local import LocalSandbox

    sb = LocalSandbox()
    sb.start()
    yield sb
    sb.close()
