"""Re-export: the durable turn store lives in :mod:`claw_trainer.store` (one store for both drivers)."""

from claw_trainer.store import AWAITING, REOPENABLE, Awaiting, Served, TurnStore, read_turns

__all__ = ["AWAITING", "REOPENABLE", "Awaiting", "Served", "TurnStore", "read_turns"]
