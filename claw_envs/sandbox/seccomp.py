"""The sandbox's seccomp policy: system calls an agent never needs, refused with ``EPERM``.

The filter is compiled by libseccomp (through the ``pyseccomp`` bindings, which load the system's
``libseccomp.so.2``) into classic BPF once per process, and applied two ways:

* to the sandbox's init with ``bwrap --seccomp FD`` (``policy="init"``: ``setns`` refused as well);
* to every command entered with ``nsenter`` (``policy="enter"``): the commands are started by a helper
  that installed the filter on itself (``claw_envs.sandbox.spawner``). ``nsenter`` itself must still call ``setns``, so that policy allows it; the agent
  gains nothing from it: it has no capability in any namespace (it runs as a non-root uid in the sandbox's
  user namespace and cannot create a new one), and ``setns`` needs ``CAP_SYS_ADMIN`` over the target.

Refused: namespace creation (``unshare``, ``clone``/``clone`` with any ``CLONE_NEW*`` flag; ``clone3``
answers ``ENOSYS`` so the C library falls back to ``clone``, whose flags the filter can see), every mount
call, ``ptrace`` and cross-process memory access, the kernel keyring, ``bpf``, ``perf_event_open``,
``userfaultfd``, ``io_uring``, kexec, kernel modules, reboot, swap, ``acct``, ``syslog``, ``quotactl``,
``open_by_handle_at``, ``lookup_dcookie``, clock setting, raw port I/O. System calls of another
architecture (32-bit ``int 0x80``) kill the process. Everything else is allowed: the rest of the
sandbox (namespaces, rlimits, a read-only root, no capabilities) does the confining.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

from claw_envs.core.errors import SandboxError

BLOCKED = (
    "unshare", "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "syslog",
    "quotactl", "quotactl_fd", "open_by_handle_at", "lookup_dcookie", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "iopl", "ioperm", "uselib", "nfsservctl", "vhangup", "fanotify_init",
)
CLONE_NEW_FLAGS = {
    "CLONE_NEWTIME": 0x00000080, "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000,
}
POLICIES = ("init", "enter")



def seccomp_unavailable() -> str | None:
    """Why the filter cannot be built here, or None when it can."""
    try:
        policy_bpf("enter")
    except SandboxError as e:
        return str(e)
    return None


@functools.cache
def policy_bpf(policy: str = "init") -> bytes:
    """The compiled filter (classic BPF, ``struct sock_filter`` array) for ``policy`` in ``POLICIES``."""
    if policy not in POLICIES:
        raise ValueError(f"unknown seccomp policy {policy!r}; choose one of {POLICIES}")
    if os.uname().machine != "x86_64":
        raise SandboxError(f"the seccomp policy is built for x86_64 only (this is {os.uname().machine}); "
                           "set SandboxConfig(seccomp=False) to run without it")
    try:
        import pyseccomp as sc
    except ImportError as e:
        raise SandboxError("seccomp needs the pyseccomp bindings: pip install pyseccomp "
                           "(or set SandboxConfig(seccomp=False) to run without a filter)") from e
    except OSError as e:  # the bindings load libseccomp.so.2 at import
        raise SandboxError(f"seccomp needs libseccomp (apt-get install libseccomp2): {e}") from e
    f = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    names = BLOCKED + (("setns",) if policy == "init" else ())
    for name in names:
        try:
            f.add_rule(eperm, name)
        except (OSError, ValueError, RuntimeError):  # a call this kernel's headers do not know
            continue
    for flag in CLONE_NEW_FLAGS.values():
        f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        data = tmp.read()
    if not data or len(data) % 8:
        raise SandboxError("libseccomp exported an empty or malformed filter")
    return data


_LAUNCHER = """import ctypes, os, sys
b = bytes.fromhex(sys.argv[1]); buf = ctypes.create_string_buffer(b, len(b))
class P(ctypes.Structure): _fields_ = [("len", ctypes.c_ushort), ("f", ctypes.c_void_p)]
p = P(len(b) // 8, ctypes.cast(buf, ctypes.c_void_p)); c = ctypes.CDLL(None, use_errno=True); u = ctypes.c_ulong
if c.prctl(38, u(1), u(0), u(0), u(0)) or c.syscall(ctypes.c_long(317), u(1), u(0), ctypes.byref(p)):
    sys.exit("claw sandbox: could not install the seccomp filter: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[2], sys.argv[2:])
"""


def launcher_argv(argv: list[str], policy: str = "enter") -> list[str]:
    """``argv`` prefixed by a small launcher that installs the filter and then executes ``argv``.

    For callers that start processes with their own ``subprocess.Popen`` (no ``preexec_fn``); it costs one
    Python start-up (~15 ms), so the sandbox's own ``exec`` uses ``PreparedFilter.preexec`` instead.
    """
    from claw_envs.sandbox.spawner import helper_python

    return [helper_python(), "-I", "-S", "-c", _LAUNCHER, policy_bpf(policy).hex(), *argv]


def docker_profile() -> dict:
    """The ``init`` policy (``setns`` refused too) as a Docker seccomp profile, for
    ``docker run --security-opt seccomp=FILE``: allow by default; the ``BLOCKED`` calls, ``setns`` and
    ``clone`` with any ``CLONE_NEW*`` flag answer ``EPERM``; ``clone3`` answers ``ENOSYS``; only x86_64 calls
    are listed (calls of another architecture get libseccomp's bad-architecture action)."""
    rules: list[dict] = [{"names": [*BLOCKED, "setns"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}]
    for flag in CLONE_NEW_FLAGS.values():
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
                      "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}


@functools.cache
def docker_profile_path() -> str:
    """``docker_profile()`` written once per process to a file named by its content (left for reuse)."""
    import hashlib
    import json

    text = json.dumps(docker_profile(), indent=1)
    d = os.path.join(tempfile.gettempdir(), "claw-gym-seccomp")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"docker-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=d)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path
