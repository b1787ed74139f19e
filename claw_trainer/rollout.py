"""Rollouts: drive a vector env with a policy, multi-turn, recording one ``Turn`` per model call.

Everything the trainer learns from is captured when the policy samples (token ids, log-probs, policy
version), never re-tokenised from text afterwards; the env's answer (next state, reward channels, hint)
is attached when the step returns. Sub-envs step concurrently (the vector env's threads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from claw_envs.core.nextstate import NextState


@dataclass
class Turn:
    """One model call and the world's answer to it."""

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    policy_version: int
    env_id: str
    task_id: str | None
    episode: int
    step: int
    action: str
    next_state: NextState | None = None
    reward: float = 0.0
    reward_channels: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    done: bool = False
    messages: list[dict[str, Any]] | None = None  # the observation the policy answered (for OPD's teacher)
    tools: list[dict[str, Any]] | None = None  # tool schemas offered in the prompt
    error: str | None = None  # the env raised or timed out on this step: not an outcome, never trained on
    # the sampler's distribution (see claw_trainer.policy.hf.Sample); None = not recorded (taken as the learner's)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    engine: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Turn:
        d = dict(d)
        ns = d.pop("next_state", None)
        for k in ("prompt_ids", "completion_ids", "logprobs"):
            d[k] = tuple(d[k])
        return cls(**d, next_state=NextState(**{**ns, "image": None}) if ns else None)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["next_state"] = self.next_state.to_dict() if self.next_state else None
        return d


def sampling_of(sample: Any) -> dict[str, Any]:
    """The sampling parameters and engine a sampler recorded on a sample (for :class:`Turn`)."""
    return {k: getattr(sample, k, None) for k in ("temperature", "top_p", "top_k", "engine")}


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars/arrays in infos and image bytes in GUI messages."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, bytes | bytearray):  # screenshots in GUI messages: the recorder keeps the images
        return f"<{len(o)} bytes>"
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _item(infos: dict[str, Any], key: str, i: int) -> Any:
    if key not in infos:
        return None
    mask = infos.get(f"_{key}")
    if mask is not None and not mask[i]:
        return None
    value = infos[key]
    if isinstance(value, dict):  # a batched dict of arrays
        return {k: _item(value, k, i) for k in value if not k.startswith("_")}
    return value[i]


def group_seeds(seed: int, round_index: int, num_envs: int, group_size: int) -> list[int]:
    """Reset seeds of one collection round: ``group_size`` consecutive sub-envs share a seed (a GRPO group);
    rounds follow ``(seed, round_index)``, so a resumed run continues with new tasks. Both drivers use it."""
    base = seed * 1_000_003 + round_index * (num_envs // group_size)
    return [base + i // group_size for i in range(num_envs)]


def collect_episodes(vec_env: Any, policy: Any, seeds: list[int], env_id: str = "",
                     first_episode: int = 0) -> list[list[Turn]]:
    """Run one whole episode in every sub-env (sub-env ``i`` reset with ``seeds[i]``); returns each episode's turns.

    Sub-envs given the same seed get the same task, which is how GRPO groups are formed. A step whose sub-env
    raised or timed out (``infos["error"]``) ends its episode with ``Turn.error`` set: credit assignment drops
    that episode instead of scoring it. Sub-envs whose
    episode has ended idle (their slot gets an empty action and its autoreset is discarded) until every
    episode is done. Tool schemas from the reset info are passed to the policy with each observation.
    """
    n = vec_env.num_envs
    if len(seeds) != n:
        raise ValueError(f"got {len(seeds)} seeds for {n} sub-envs")
    obs, infos = vec_env.reset(seed=list(seeds))
    task_ids = [_item(infos, "task_id", i) or _item(infos, "instance_id", i) for i in range(n)]
    tools = [_item(infos, "tools", i) for i in range(n)]
    episodes: list[list[Turn]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    version = getattr(policy, "version", 0)
    while not done.all():
        active = [i for i in range(n) if not done[i]]
        samples = policy.sample([obs[i] for i in active], tools=[tools[i] for i in active])
        sampled = dict(zip(active, samples, strict=True))
        new_obs, rewards, terms, truncs, infos = vec_env.step([sampled[i].text if i in sampled else "" for i in range(n)])
        for i in active:
            s = sampled[i]
            channels = _item(infos, "reward_channels", i) or {"outcome": float(rewards[i])}
            error = _item(infos, "error", i)  # a crashed / timed-out sub-env (the vector env truncates it)
            ended = bool(terms[i] or truncs[i])
            episodes[i].append(Turn(s.prompt_ids, s.completion_ids, s.logprobs,
                                    version if getattr(s, "version", None) is None else s.version, env_id, task_ids[i],
                                    first_episode + i, len(episodes[i]), s.text, _item(infos, "next_state", i),
                                    float(rewards[i]), channels, channels.get("hint"), ended, list(obs[i]),
                                    tools[i], str(error) if error else None, **sampling_of(s)))
            done[i] = ended
        obs = new_obs
    return episodes
