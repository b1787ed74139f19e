"""The publish gate: version store, evaluator, decision, admin API (see :mod:`claw_trainer.gate.publish`).

Nothing heavy is imported here: ``claw_trainer.config`` imports :class:`GateConfig` from this package.
"""

from __future__ import annotations

from typing import Any

from claw_trainer.gate.config import GateConfig
from claw_trainer.gate.publish import Lineage, PublishGate, Served
from claw_trainer.gate.versions import VersionStore, request_rollback

__all__ = ["GateConfig", "Lineage", "PublishGate", "Served", "VersionStore", "attach_gate", "request_rollback"]


def attach_gate(stack: Any, cfg: GateConfig | dict[str, Any]) -> PublishGate:
    """A started gate for a :class:`~claw_trainer.serving.stack.ServeStack` (``stack.policy``, ``stack.app``,
    ``stack.loops`` or None, ``stack.cfg.train.output_dir``, ``stack.host``/``port``): versions in
    ``<output_dir>/versions``, the admin routes on the app, the learning loops (if any) publishing through it
    and re-based by it. The stack adds :meth:`PublishGate.health` to ``/health`` and stops the gate."""
    from pathlib import Path

    from claw_trainer.gate.admin import admin_router, advertise

    gate_cfg = GateConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
    gate = PublishGate(stack.policy, gate_cfg, Path(stack.cfg.train.output_dir) / "versions")
    if stack.loops is not None:
        gate.attach_learner(stack.loops, stack.loops.learner.max_staleness)
        stack.loops.route_publishes(gate)
    stack.app.include_router(admin_router(gate))
    advertise(gate, f"http://{stack.host}:{stack.port}")
    return gate.start()
