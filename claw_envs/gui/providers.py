"""Where a desktop comes from. Every provider ends in a controller URL; the env only speaks HTTP to it.

* ``local`` (default): ``python -m claw_envs.gui.server`` as a child process (fresh Xvfb, sandboxed session).
* ``docker``: a container of ``env_images/gui/Dockerfile`` (``claw-gym/gui``) running the same server,
  its port published on 127.0.0.1 only.
* ``osworld``: the URL of an existing OSWorld VM's server (``http://VM_IP:5000``); nothing is started, and
  ``reset`` cannot revert the VM (snapshot reverts are the VM manager's job).

``start() -> url`` and ``stop()`` (idempotent, leaves no process) are the whole protocol; ``can_reset``
says whether ``POST /claw/reset`` gives a fresh session; ``token`` is the controller's per-desktop secret
(sent as ``Authorization: Bearer <token>``; None for an OSWorld VM, whose server has none).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from claw_envs.core.errors import ConfigError, SandboxError

PROVIDERS = ("local", "docker", "osworld")


class LocalProvider:
    """``python -m claw_envs.gui.server`` as a child; its secret goes to it in ``CLAW_GUI_TOKEN``."""

    can_reset = True

    def __init__(self, width: int = 1280, height: int = 720, log_dir: str | None = None, start_timeout: float = 60,
                 client_password: str = "password"):
        self.width, self.height, self.log_dir, self.start_timeout = width, height, log_dir, start_timeout
        self.client_password = client_password
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.token: str | None = None

    def start(self) -> str:
        from claw_envs.gui.display import display_unavailable
        from claw_envs.sandbox.local import local_sandbox_unavailable
        reason = display_unavailable() or local_sandbox_unavailable()
        if reason:
            raise SandboxError(reason)
        import secrets
        self.token = secrets.token_urlsafe(32)
        argv = [sys.executable, "-m", "claw_envs.gui.server", "--width", str(self.width), "--height", str(self.height),
                "--client-password", self.client_password]
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            argv += ["--log-dir", self.log_dir]
        import tempfile
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server must never block on it
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                                     start_new_session=True, env={**os.environ, "CLAW_GUI_TOKEN": self.token})
        line = b""
        deadline = time.monotonic() + self.start_timeout
        while not line.endswith(b"\n") and time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)  # type: ignore[union-attr]
                if not chunk:
                    break
                line += chunk
        try:
            self.info = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError:
            self.info = {}
        if "url" not in self.info:
            self._stderr.seek(0)
            err = self.info.get("error") or self._stderr.read()[-1500:].decode(errors="replace").strip()
            self.stop()
            raise SandboxError(f"the desktop controller did not start: {err or 'no answer'}. "
                               "Check Xvfb, bubblewrap and chromium (scripts/setup.sh installs them).")
        return self.info["url"]

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait(timeout=5)
        if p.stdout:
            p.stdout.close()
        self._stderr.close()


class DockerProvider:
    """A container of ``image`` running the controller on port 5000, published on 127.0.0.1."""

    can_reset = True

    def __init__(self, image: str = "claw-gym/gui:latest", start_timeout: float = 120):
        import secrets
        self.image, self.start_timeout = image, start_timeout
        self.container = None
        self.token: str | None = secrets.token_urlsafe(32)

    @staticmethod
    def unavailable(image: str = "claw-gym/gui:latest") -> str | None:
        """Why this provider cannot start here: no engine, no image (nothing is pulled: build it), or an engine
        without a bridge network to publish the controller's port on 127.0.0.1 (``dockerd --bridge=none``, as
        on machines without iptables). None when it can."""
        try:
            import docker
            client = docker.from_env()
            client.ping()
        except Exception as e:  # noqa: BLE001 - any failure means no engine
            return f"no Docker engine answers ({type(e).__name__}: {e})"
        try:
            client.images.get(image)
        except Exception:  # noqa: BLE001
            return (f"the image {image} is not built (nothing is pulled): "
                    f"docker build -t {image} -f env_images/gui/Dockerfile .")
        try:
            client.networks.get("bridge")
        except Exception:  # noqa: BLE001
            return ("the Docker engine has no bridge network (started with --bridge=none), so the controller's "
                    "port cannot be published on 127.0.0.1; use provider='local'")
        return None

    def start(self) -> str:
        reason = self.unavailable(self.image)
        if reason:
            raise SandboxError(f"docker provider: {reason}")
        import docker
        client = docker.from_env()
        try:
            self.container = client.containers.run(self.image, detach=True, ports={"5000/tcp": ("127.0.0.1", None)},
                                                   shm_size="512m", init=True, remove=True,
                                                   environment={"CLAW_GUI_TOKEN": self.token})
        except docker.errors.DockerException as e:
            raise SandboxError(f"could not start {self.image}: {e}. Build it: docker build -t {self.image} "
                               "env_images/gui") from e
        deadline = time.monotonic() + self.start_timeout
        from claw_envs.gui.client import ControllerClient
        while time.monotonic() < deadline:
            self.container.reload()
            ports = self.container.ports.get("5000/tcp") or []
            if ports:
                url = f"http://127.0.0.1:{ports[0]['HostPort']}"
                try:
                    ControllerClient(url, timeout=5, token=self.token).screen_size()
                    return url
                except SandboxError:
                    pass
            time.sleep(0.5)
        self.stop()
        raise SandboxError(f"the controller in {self.image} did not answer within {self.start_timeout} s")

    def stop(self) -> None:
        c, self.container = self.container, None
        if c is not None:
            try:
                c.stop(timeout=5)
            except Exception:  # noqa: BLE001 - already gone
                pass


class OSWorldProvider:
    """An existing OSWorld VM server; ``reset`` runs only the task's setup (no snapshot revert)."""

    can_reset = False

    def __init__(self, url: str, token: str | None = None):
        if not url:
            raise ConfigError("provider 'osworld' needs url='http://VM_IP:5000' (the VM's server)")
        self.url = url
        self.token = token  # a claw controller's secret; an OSWorld VM's server has none

    def start(self) -> str:
        return self.url

    def stop(self) -> None:
        pass


def make_provider(name: str, **kwargs):
    if name == "local":
        return LocalProvider(**{k: v for k, v in kwargs.items() if k in ("width", "height", "log_dir", "client_password")})
    if name == "docker":
        return DockerProvider(**{k: v for k, v in kwargs.items() if k in ("image",)})
    if name == "osworld":
        return OSWorldProvider(kwargs.get("url") or "", kwargs.get("token"))
    raise ConfigError(f"unknown GUI provider {name!r}; choose one of {', '.join(PROVIDERS)}")
