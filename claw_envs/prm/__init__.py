"""The judge (PRM): evaluative scores and directive hints from the next state, and the PRMReward wrapper."""

from claw_envs.prm.backends import OpenAIBackend, TransformersBackend, make_backend
from claw_envs.prm.judge import Judge, Judgement, JudgeStats, Turn
from claw_envs.prm.rules import RuleBackend, rule_vote
from claw_envs.prm.wrapper import PRMReward

__all__ = ["Judge", "JudgeStats", "Judgement", "OpenAIBackend", "PRMReward", "RuleBackend", "Turn",
           "TransformersBackend", "make_backend", "rule_vote"]
