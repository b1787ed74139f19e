"""Adapters that expose claw envs to other RL libraries (imported on demand)."""
