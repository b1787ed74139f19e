"""Moved to :mod:`claw_trainer.gate`; this name stays for importers not yet updated (``claw_trainer.view.commands``)."""

from claw_trainer.gate import GateConfig, PublishGate, attach_gate, request_rollback
from claw_trainer.gate.versions import VersionStore

__all__ = ["GateConfig", "PublishGate", "VersionStore", "attach_gate", "request_rollback"]
