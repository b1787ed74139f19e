from claw_envs.toolcall.env import ToolCallEnv, shaped_wrong_reward
from claw_envs.toolcall.task import ToolTask, load_math_rows, load_tool_tasks
from claw_envs.toolcall.tools import Tool, function_tool

__all__ = ["Tool", "ToolCallEnv", "ToolTask", "function_tool", "load_math_rows", "load_tool_tasks",
           "shaped_wrong_reward"]
