from claw_envs.terminal.env import Outcome, TerminalEnv

__all__ = ["Outcome", "TerminalEnv"]
