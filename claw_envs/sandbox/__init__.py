"""Sandboxes for model-generated commands: ``local`` (bubblewrap, default) and ``docker``."""

from claw_envs.sandbox.base import ExecResult, Sandbox, SandboxConfig
from claw_envs.sandbox.session import ShellSession

BACKENDS = ("local", "docker")


def make_sandbox(backend: str = "local", config: SandboxConfig | None = None) -> Sandbox:
    """Create a sandbox by backend name (not started)."""
    if backend == "local":
        from claw_envs.sandbox.local import LocalSandbox
        return LocalSandbox(config)
    if backend == "docker":
        from claw_envs.sandbox.docker import DockerSandbox
        return DockerSandbox(config)
    from claw_envs.core.errors import ConfigError
    raise ConfigError(f"unknown sandbox backend {backend!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "ExecResult", "Sandbox", "SandboxConfig", "ShellSession", "make_sandbox"]
