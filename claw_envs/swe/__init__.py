from claw_envs.swe.env import SWEEnv, write_predictions
from claw_envs.swe.grading import EvalResult, evaluate_patch
from claw_envs.swe.instance import SWEInstance, from_row, load_instances

__all__ = ["EvalResult", "SWEEnv", "SWEInstance", "evaluate_patch", "from_row", "load_instances",
           "write_predictions"]
