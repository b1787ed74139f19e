"""The learner core learns: binary_rl, opd and combine each raise the reward of a tiny random model on a toy task,
and beta pulls a policy back toward its reference — all through claw_trainer.core (via the async Learner).

OPD needs a teacher that knows the target: here an oracle teacher distribution that puts 90% of its mass on
tokens made of digits (standing in for "the frozen model with the hint in context"; the real hinted teacher is
proven through ClawTrainer in test_trainer.py).
"""

import pytest
import torch

from claw_envs.vector import ClawVectorEnv

pytest.importorskip("transformers", reason="the [train] extra is not installed")


def _oracle_teacher(tok, inputs):
    """log π_teacher of each completion token: 0.9 spread over all-digit tokens, 0.1 over the rest."""
    import math

    vocab = len(tok)
    digit = {i for i in range(vocab) if (t := tok.decode([i]).strip()) and t.isdigit()}
    hi, lo = math.log(0.9 / len(digit)), math.log(0.1 / (vocab - len(digit)))
    ids = inputs["completion_ids"]
    is_digit = torch.tensor([[c in digit for c in row] for row in ids.tolist()])
    return torch.where(is_digit, torch.tensor(hi), torch.tensor(lo))


def _setup(seed, tmp_path, **method):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.config import MethodConfig, TrainConfig
    from claw_trainer.learner import Learner
    from claw_trainer.policy import HFPolicy
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "tiny", seed=seed)
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    train = TrainConfig(lr=3e-3, batch_size=8, micro_batch_size=8, max_grad_norm=0.0, seed=seed, steps=100)
    learner = Learner(model, tok, MethodConfig(**method), lr=3e-3, train=train)
    return learner, HFPolicy(model, tok, max_new_tokens=8)


def _run(seed: int, steps: int, tmp_path, mode: str = "binary_rl") -> tuple[float, float]:
    from claw_trainer import advantages as adv_fns
    from claw_trainer.credit import TrainSample, score_episodes
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.toy import DigitsEnv

    learner, policy = _setup(seed, tmp_path, loss="binary_rl", group_norm=True)
    vec = ClawVectorEnv([DigitsEnv for _ in range(8)])
    curve = []
    for step in range(steps):
        policy.version = learner.step  # on-policy: π_old is the sampler's own log-probs (no TIS)
        episodes = collect_episodes(vec, policy, seeds=[seed * 1000 + step] * 8)
        turns = [t for ep in episodes for t in ep]
        curve.append(sum(t.reward for t in turns) / len(turns))
        if mode == "binary_rl":  # GRPO within the prompt's group, through the driver's own train_step
            samples, _ = score_episodes(episodes, "binary_rl", group_norm=True)
            if samples:
                learner.train_step(samples)
            continue
        scored, _ = score_episodes(episodes, "binary_rl", group_norm=True)
        a_rl = {id(s.turn): s.a_rl for s in scored}
        samples = [TrainSample(t, a_rl.get(id(t), 0.0), id(t) in a_rl, True) for t in turns]
        inputs, _ = learner.prepare(samples)
        teacher, old, mask = _oracle_teacher(policy.tokenizer, inputs), inputs["sampling_per_token_logps"], \
            inputs["loss_mask"]
        if mode == "opd":
            inputs["advantages"] = adv_fns.opd(teacher, old, mask)
        else:  # half the turns get a hint
            hints = torch.tensor([i % 2 == 0 for i in range(len(turns))])
            has_score = torch.tensor([s.has_score for s in samples])
            a = torch.tensor([s.a_rl for s in samples])
            inputs["advantages"], _ = adv_fns.combine(a, has_score, teacher, old, hints, mask, w_rl=1.0, w_opd=0.1)
        learner.model.train()
        learner.optimizer.zero_grad()
        loss, _ = learner.loss(inputs, 0, len(samples))
        loss.backward()
        learner.optimizer.step()
        learner.model.eval()
    vec.close()
    return sum(curve[:5]) / 5, sum(curve[-5:]) / 5


@pytest.mark.parametrize("mode", ["binary_rl", "opd", "combine"])
def test_each_mode_learns_on_three_seeds(tmp_path, mode):
    results = [_run(seed, 40, tmp_path / str(seed), mode) for seed in (0, 1, 2)]
    for before, after in results:
        assert after > before + 0.3, results  # rewards live in [-1, 1]


def _kl_to_reference(learner, samples) -> float:
    from claw_trainer import core
    from claw_trainer.losses import k3_kl, masked_mean

    prompts = [list(s.turn.prompt_ids) for s in samples]
    comps = [list(s.turn.completion_ids) for s in samples]
    pad = learner.tokenizer.pad_token_id
    ref, ctx = learner.models.frozen()
    with ctx:
        ref_logp = core.completion_logprobs(ref, prompts, comps, pad)["logp"]
    logp = core.completion_logprobs(learner.model, prompts, comps, pad)["logp"]
    mask = core.pad_rows([[1] * len(c) for c in comps], 0)
    return masked_mean(k3_kl(logp, ref_logp), mask).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beta_pulls_the_policy_back_toward_the_reference(tmp_path, seed):
    """A policy pushed away from its reference, trained with zero advantages and beta > 0, moves back: the k3 KL
    to the (frozen) reference falls step after step. With beta = 0 the same steps leave it where it was."""
    from claw_trainer.credit import TrainSample
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.toy import DigitsEnv

    kls = {}
    for beta in (0.0, 1.0):
        learner, policy = _setup(seed, tmp_path / f"b{beta}", loss="binary_rl", beta=beta or 1e-9)
        learner.method.beta = beta or 1e-9  # a reference exists in both runs; only the pull differs
        vec = ClawVectorEnv([DigitsEnv for _ in range(4)])
        turns = [t for ep in collect_episodes(vec, policy, seeds=[seed] * 4) for t in ep]
        vec.close()
        with torch.no_grad():  # push the policy away from its reference
            g = torch.Generator().manual_seed(seed)
            for p in learner.model.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        samples = [TrainSample(t, 0.0, False, False) for t in turns]
        before = _kl_to_reference(learner, samples)
        learner.method.beta = beta
        for _ in range(15):
            learner.train_step(samples)
        kls[beta] = (before, _kl_to_reference(learner, samples))
    (b0, a0), (b1, a1) = kls[0.0], kls[1.0]
    assert b1 > 0.01 and b0 > 0.01, kls  # the push really moved the policy
    assert a1 < 0.5 * b1, kls  # beta pulled it back
    assert a0 == pytest.approx(b0, rel=0.05), kls  # zero advantages and no beta: nothing moves


def test_async_learner_honours_the_config_or_rejects_keys_by_name(tmp_path):
    """LoRA (only the adapter moves; the reference is the adapter-disabled base), micro-batches, clipping and the
    prompt-length limit are honoured by the async driver; keys it cannot honour are refused by name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_envs.core.errors import ConfigError
    from claw_trainer.config import RunConfig
    from claw_trainer.credit import TrainSample
    from claw_trainer.learner import Learner
    from claw_trainer.policy import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.tiny import build_tiny_model
    from claw_trainer.toy import DigitsEnv

    path = build_tiny_model(tmp_path / "m")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    cfg = RunConfig()
    cfg.model.lora_r, cfg.method.loss, cfg.method.beta = 4, "binary_rl", 0.1
    cfg.train.batch_size, cfg.train.micro_batch_size, cfg.train.max_grad_norm, cfg.train.lr = 4, 2, 0.5, 1e-2
    vec = ClawVectorEnv([DigitsEnv for _ in range(4)])
    turns = [t for ep in collect_episodes(vec, HFPolicy(model, tok, max_new_tokens=6), seeds=[0] * 4) for t in ep]
    vec.close()
    learner = Learner.from_config(model, tok, cfg)
    assert learner.models.reference is None  # LoRA: the reference is the base with the adapter disabled
    before = {k: v.clone() for k, v in learner.model.named_parameters()}
    samples = [TrainSample(t, 1.0 if i % 2 else -1.0, True, False) for i, t in enumerate(turns)]
    stats = learner.train_step(samples)
    moved = {k for k, v in learner.model.named_parameters() if not torch.equal(v, before[k])}
    assert moved and all("lora_" in k for k in moved), moved
    assert stats["grad_norm"] > 0 and "kl" in stats
    learner.train_cfg.max_prompt_tokens = 1  # every prompt is longer: all dropped, none trained
    usable, dropped, _ = learner.split_stale(samples)
    assert not usable and len(dropped) == 4
    for key, value, name in [("method", ("loss", "step_wise"), "method.loss=step_wise"),
                             ("train", ("vllm", "colocate"), "train.vllm"), ("train", ("dtype", "bfloat16"), "dtype")]:
        bad = RunConfig()
        setattr(getattr(bad, key), *value)
        with pytest.raises(ConfigError, match=name):
            Learner.from_config(model, tok, bad)


def test_async_learner_micro_batches_of_shorter_completions_line_up(tmp_path):
    """Found by OpenClaw through `claw serve --learn`: a micro-batch whose completions are all shorter than the
    batch's longest one. Its log-probs are padded to the batch width, so each row equals the full-batch row."""
    import dataclasses

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer import core
    from claw_trainer.config import RunConfig
    from claw_trainer.credit import TrainSample
    from claw_trainer.learner import Learner
    from claw_trainer.policy import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.tiny import build_tiny_model
    from claw_trainer.toy import DigitsEnv

    path = build_tiny_model(tmp_path / "m")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    vec = ClawVectorEnv([DigitsEnv for _ in range(2)])
    turns = [t for ep in collect_episodes(vec, HFPolicy(model, tok, max_new_tokens=8), seeds=[0, 1]) for t in ep]
    vec.close()
    turns = [dataclasses.replace(t, completion_ids=t.completion_ids[:n], logprobs=t.logprobs[:n])
             for t, n in zip(turns[:2], (8, 3), strict=True)]
    assert [len(t.completion_ids) for t in turns] == [8, 3]
    cfg = RunConfig()
    cfg.method.loss, cfg.train.batch_size, cfg.train.micro_batch_size = "binary_rl", 2, 1
    learner = Learner.from_config(model, tok, cfg)
    samples = [TrainSample(t, a, True, False) for t, a in zip(turns, (1.0, -1.0), strict=True)]
    full = core.completion_logprobs(model, [list(t.prompt_ids) for t in turns],
                                    [list(t.completion_ids) for t in turns], tok.pad_token_id)["logp"]
    short = core.completion_logprobs(model, [list(turns[1].prompt_ids)], [list(turns[1].completion_ids)],
                                     tok.pad_token_id, width=8)["logp"]
    assert short.shape == (1, 8) and torch.allclose(short[0], full[1], atol=1e-5)
    stats = learner.train_step(samples)
    assert stats["samples"] == 2 and stats["grad_norm"] > 0
