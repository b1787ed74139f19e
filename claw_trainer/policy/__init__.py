"""Policies that turn chat observations into sampled completions, recorded token-exactly."""

from claw_trainer.policy.hf import HFPolicy, Sample

__all__ = ["HFPolicy", "Sample"]
