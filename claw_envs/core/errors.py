"""One exception hierarchy for claw-gym. Every message says what was wrong and what to do."""


class ClawError(Exception):
    """Base class of every error raised by claw-gym."""


class TaskError(ClawError):
    """A task file is malformed, or a task cannot be set up on the chosen backend."""


class SandboxError(ClawError):
    """The sandbox could not start, or a command could not be run in it."""


class ActionParseError(ClawError):
    """The model's text does not contain a usable action (envs report this, they do not raise it)."""


class JudgeError(ClawError):
    """A judge backend is misconfigured (runtime judge failures become invalid votes instead)."""


class ConfigError(ClawError):
    """A configuration value is missing, of the wrong type, or out of range."""


class RemoteError(ClawError):
    """A remote env (env server or Ray actor) refused a request, failed, or went away."""
