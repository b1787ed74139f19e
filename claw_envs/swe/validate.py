"""Instance validation, as SWE-bench's harness validation: gold resolves, empty does not, F2P flips."""

from __future__ import annotations

from dataclasses import dataclass

from claw_envs.sandbox import SandboxConfig, make_sandbox
from claw_envs.swe.grading import ROOT, evaluate_patch
from claw_envs.swe.instance import SWEInstance
from claw_envs.swe.workspace import prepare


@dataclass(frozen=True)
class SWEValidation:
    instance_id: str
    gold_resolved: bool
    empty_resolved: bool
    f2p_fail_before: bool
    f2p_pass_after: bool
    p2p_pass_before: bool
    detail: str = ""

    @property
    def ok(self) -> bool:
        return (self.gold_resolved and not self.empty_resolved and self.f2p_fail_before and self.f2p_pass_after
                and self.p2p_pass_before)


def validate_instance(inst: SWEInstance, backend: str = "local", timeout: float = 300.0) -> SWEValidation:
    inst = prepare(inst)
    cfg = SandboxConfig(workdir=ROOT, writable={**SandboxConfig().writable, ROOT: "512m"})
    sb = make_sandbox(backend, cfg)
    sb.start()
    try:
        gold = evaluate_patch(sb, inst, inst.patch, timeout)
        empty = evaluate_patch(sb, inst, "", timeout)
    finally:
        sb.close()
    et = (empty.report.get("tests_status") or {})
    f2p_fail_before = bool(et) and not et["FAIL_TO_PASS"]["success"] and \
        len(et["FAIL_TO_PASS"]["failure"]) == len(inst.FAIL_TO_PASS)
    p2p_pass_before = bool(et) and not et["PASS_TO_PASS"]["failure"]
    detail = "" if gold.resolved else f"gold: {gold.status} {gold.resolution} F2P={gold.f2p:.2f} " \
                                      f"P2P={gold.p2p:.2f}; log tail: {gold.log[-400:]}"
    return SWEValidation(inst.instance_id, gold.resolved, empty.resolved, f2p_fail_before, gold.f2p == 1.0,
                         p2p_pass_before, detail)
