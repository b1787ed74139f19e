"""Shared by the suites that run on the docker backend: the image fixture and the skip reason.

``docker_image`` builds the terminal image with the same builder as ``claw images build`` (debootstrap base +
``env_images/terminal``), once per session; when it is cached (the usual case) that costs well under a second.
Tests that use the docker backend skip, with the reason, only when no Docker engine answers here.
"""

import pytest

from tests.conftest import docker_unavailable

DOCKER_REASON = docker_unavailable()


@pytest.fixture(scope="session")
def docker_image() -> str:
    if DOCKER_REASON:
        pytest.skip(f"docker backend: {DOCKER_REASON}")
    from claw_envs.sandbox.images import ensure_image

    return ensure_image("terminal")


def use_backend(request, backend: str) -> None:
    """Skip unless ``backend`` can run here; for docker, make sure its image is built."""
    from tests.conftest import _LOCAL_REASON

    reason = _LOCAL_REASON if backend == "local" else DOCKER_REASON
    if reason:
        pytest.skip(f"{backend} backend: {reason}")
    if backend == "docker":
        request.getfixturevalue("docker_image")
