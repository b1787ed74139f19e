"""ClawTrainer (a trl.GRPOTrainer subclass): batches of kept env turns, the loss modes, LoRA, resume, learning."""

import json

import pytest
import torch

from claw_envs.vector import ClawVectorEnv

pytest.importorskip("trl", reason="the [train] extra is not installed")

from claw_trainer.buffer import RolloutBuffer  # noqa: E402
from claw_trainer.config import RunConfig  # noqa: E402
from claw_trainer.core import HINT_HEADER, completion_logprobs, with_hint  # noqa: E402
from claw_trainer.source import EnvRollouts  # noqa: E402
from claw_trainer.toy import DigitsEnv  # noqa: E402
from claw_trainer.trainer import ClawTrainer  # noqa: E402

HINT = "digits"


def _tiny(tmp_path, seed=0):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / f"tiny{seed}", seed=seed)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _trainer(tmp_path, model, tok, loss="binary_rl", steps=4, hint=None, temperature=1.0, lr=3e-3,
             journal=True, peft_config=None, **method):
    from claw_trainer.run import grpo_args

    cfg = RunConfig()
    cfg.train.steps, cfg.train.batch_size, cfg.train.micro_batch_size = steps, 8, 4
    cfg.train.lr, cfg.train.max_new_tokens, cfg.train.report_to, cfg.train.temperature = lr, 8, [], temperature
    cfg.train.save_every = 2
    cfg.method.loss = loss
    for k, v in method.items():
        setattr(cfg.method, k, v)
    vec = ClawVectorEnv([lambda: DigitsEnv(hint=hint) for _ in range(8)])
    rollouts = EnvRollouts(vec, tok, loss, group_size=8, max_new_tokens=8, temperature=temperature, seed=0)
    buffer = RolloutBuffer(tmp_path / "out" / "turns.sqlite" if journal else None)
    return ClawTrainer(model, tok, grpo_args(cfg, tmp_path / "out"), cfg.method, rollouts, buffer,
                       peft_config=peft_config, max_rounds=2)


def _rewards(trainer):
    return [h["reward"] for h in trainer.state.log_history if "reward" in h]


def test_binary_rl_learns_through_the_trainer_on_three_seeds(tmp_path):
    results = []
    for seed in (0, 1, 2):
        model, tok = _tiny(tmp_path, seed)
        tr = _trainer(tmp_path / str(seed), model, tok, steps=30, lr=6e-3, journal=False)
        tr.train()
        tr.rollouts.vec_env.close()
        r = _rewards(tr)
        results.append((sum(r[:5]) / 5, sum(r[-5:]) / 5))
    for before, after in results:
        assert after > before + 0.3, results  # rewards live in [-1, 1]


def _hint_following_teacher(tmp_path, tok_model):
    """Warm the tiny model up (SFT) so that *with the hint in context* it answers in digits, and without it in
    letters: the frozen copy is then a teacher that knows the target only through the hint."""
    model, tok = tok_model
    from claw_trainer.policy.hf import chat_prompt_ids
    from claw_trainer.toy import PROMPT

    plain = chat_prompt_ids(tok, [{"role": "user", "content": PROMPT}])
    hinted = chat_prompt_ids(tok, with_hint([{"role": "user", "content": PROMPT}], HINT))
    end = tok.convert_tokens_to_ids("<|im_end|>")
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(200):
        digits = "".join(str(int(d)) for d in torch.randint(0, 10, (6,), generator=g))
        letters = "".join(chr(97 + int(c)) for c in torch.randint(0, 26, (6,), generator=g))
        rows = [hinted + tok(digits, add_special_tokens=False)["input_ids"] + [end],
                plain + tok(letters, add_special_tokens=False)["input_ids"] + [end]]
        loss = 0
        for prompt, row in zip((hinted, plain), rows, strict=True):
            ids = torch.tensor([row])
            labels = ids.clone()
            labels[0, :len(prompt)] = -100
            loss = loss + model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, tok


@pytest.mark.parametrize("loss", ["opd", "combine"])
def test_opd_and_combine_learn_from_hints_through_the_trainer(tmp_path, loss):
    """The teacher is the frozen initial policy with the hint appended to the user message (the default)."""
    results = []
    for seed in (0, 1, 2):
        model, tok = _hint_following_teacher(tmp_path, _tiny(tmp_path, seed))
        kw = {"group_norm": True, "w_opd": 1.0, "w_rl": 1.0}
        tr = _trainer(tmp_path / f"{loss}{seed}", model, tok, loss=loss, steps=15, hint=HINT, lr=2e-3, **kw)
        tr.train()
        tr.rollouts.vec_env.close()
        r = _rewards(tr)
        results.append((sum(r[:3]) / 3, sum(r[-5:]) / 5))
    for before, after in results:
        assert after > before + 0.3, results


def test_teacher_logprobs_are_the_students_tokens_under_the_hinted_context(tmp_path):
    model, tok = _tiny(tmp_path)
    tr = _trainer(tmp_path, model, tok, loss="opd", steps=1, hint=HINT)
    batch_inputs = tr._generate_and_score_completions([{}] * 8)
    sampled = tr._last_sampled
    from claw_trainer.policy.hf import chat_prompt_ids

    for i, s in enumerate(sampled):
        t = s.turn
        assert with_hint(t.messages, t.hint)[-1]["content"].endswith(HINT_HEADER + HINT)
        t_prompt = chat_prompt_ids(tok, with_hint(t.messages, t.hint))
        ids = torch.tensor([t_prompt + list(t.completion_ids)])
        with torch.no_grad():
            logp = model(ids).logits.float().log_softmax(-1)[0]
        teacher = torch.tensor([logp[len(t_prompt) + k - 1, c] for k, c in enumerate(t.completion_ids)])
        n = len(t.completion_ids)
        expected = teacher - torch.tensor(t.logprobs)  # A = logp_teacher - logp_old, token by token
        assert batch_inputs["advantages"][i, :n] == pytest.approx(expected, abs=1e-4)
        assert torch.all(batch_inputs["advantages"][i, n:] == 0)  # padding never carries advantage
    tr.rollouts.vec_env.close()


def test_dropped_turns_do_not_count_and_overflow_is_carried(tmp_path):
    """Greedy decoding gives every sub-env the same reply: a constant group, all dropped by binary_rl."""
    model, tok = _tiny(tmp_path)
    tr = _trainer(tmp_path, model, tok, steps=1, temperature=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    tr.train()
    logs = tr.state.log_history[0]
    assert logs["turns_kept"] == 0 and logs["turns_dropped"] == 16 and logs["filler"] == 8
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # no gradient
    tr.rollouts.vec_env.close()
    # overflow: a round of 8 kept turns for a batch of 5 leaves 3 queued, trained on first next time
    model, tok = _tiny(tmp_path)
    tr = _trainer(tmp_path / "b", model, tok, steps=1, journal=False)
    tr._fill(5)
    kept = len(tr.buffer)
    first = tr.buffer.take(5)
    assert len(first) == 5 and len(tr.buffer) == kept - 5 and tr.buffer.consumed == 0  # taken, not trained yet
    assert len(tr.buffer.mark_trained(1)) == 5 and tr.buffer.consumed == 5 and len(tr.buffer) == kept - 5
    tr.rollouts.vec_env.close()


def test_checkpoint_resume_retrains_what_followed_the_checkpoint_once(tmp_path):
    """A run of 3 steps (checkpoint at 2) "crashes" after step 3; resuming from checkpoint-2 re-queues step 3's
    samples and those collected after the checkpoint, trains them in the new step 3, and no row twice.
    (A round keeps at most a batch, so fewer than a batch is queued after step 2: step 3 always collects.)"""
    from claw_trainer.store import read_turns

    model, tok = _tiny(tmp_path)
    tr = _trainer(tmp_path, model, tok, steps=3)
    tr.train()
    tr.rollouts.vec_env.close()
    tr.buffer.close()
    rows = read_turns(tmp_path / "out")
    state = json.loads((tmp_path / "out" / "checkpoint-2" / "claw_state.json").read_text())
    assert state["step"] == 2 and state["consumed"] == 16 and len(rows) >= 24
    assert sorted(state["batch"]) == [r["id"] for r in rows if r["step"] == 2]
    first_step3 = [r["id"] for r in rows if r["step"] == 3]
    assert len(first_step3) == 8 and all(r["status"] == "trained" for r in rows if r["step"])
    after_ckpt = {r["id"] for r in rows if int(r["grp"].split("-")[1]) >= state["rounds"]}
    assert after_ckpt & set(first_step3)  # step 3 trained samples collected after checkpoint-2
    model2, _ = _tiny(tmp_path)
    tr2 = _trainer(tmp_path, model2, tok, steps=3)
    tr2.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-2"))
    tr2.rollouts.vec_env.close()
    tr2.buffer.close()
    assert tr2.state.global_step == 3
    rows2 = read_turns(tmp_path / "out")
    assert [r["turn"] for r in rows2] == [r["turn"] for r in rows]  # no new round: the queue held enough
    # steps 1-2 kept their marks; the new step 3 trained the same oldest 8 re-queued rows; each row once at most
    assert [r["step"] for r in rows2] == [r["step"] for r in rows]
    assert [r["id"] for r in rows2 if r["step"] == 3] == first_step3
    assert sum(r["status"] == "trained" for r in rows2) == 24
    assert tr2.rollouts.rounds == tr.rollouts.rounds  # the round counter continued from the store, not the ckpt
    resumed = [h["resumed_pending"] for h in tr2.state.log_history if "resumed_pending" in h]
    assert resumed == [len(rows) - 16]


def test_lora_trains_only_the_adapter_and_the_teacher_is_the_base(tmp_path):
    from peft import LoraConfig

    model, tok = _tiny(tmp_path)
    base = {k: v.detach().clone() for k, v in model.named_parameters()}
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    tr = _trainer(tmp_path, model, tok, loss="combine", steps=2, hint=HINT, journal=False, peft_config=lora)
    assert tr.frozen_model is None  # the reference is the base model with the adapter disabled
    tr.train()
    tr.rollouts.vec_env.close()
    peft_model = tr.accelerator.unwrap_model(tr.model)
    changed_adapter = False
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            changed_adapter |= bool(p.abs().sum() > 0) and "lora_B" in name
        else:
            key = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(p, base[key]), name
    assert changed_adapter


@pytest.mark.parametrize("method", [{"loss": "topk_opd", "topk": 5}, {"loss": "binary_rl", "tis": True},
                                    {"loss": "binary_rl", "beta": 0.1}, {"loss": "combine", "teacher": "policy"}])
def test_other_modes_run_and_log(tmp_path, method):
    model, tok = _tiny(tmp_path)
    loss = method.pop("loss")
    tr = _trainer(tmp_path, model, tok, loss=loss, steps=1, hint=HINT, journal=False, **method)
    tr.train()
    tr.rollouts.vec_env.close()
    logs = tr.state.log_history[0]
    assert torch.isfinite(torch.tensor(logs["loss"]))
    if method.get("beta"):
        assert "kl" in logs and logs["kl"] >= 0
    if loss == "topk_opd":
        assert logs["hint_frac"] == 1.0


def test_completion_logprobs_align_by_position(tmp_path):
    model, tok = _tiny(tmp_path)
    prompts, comps = [[5, 6, 7], [8]], [[9, 10], [11, 12, 13]]
    out = completion_logprobs(model, prompts, comps, tok.pad_token_id, topk=3)
    for i, (p, c) in enumerate(zip(prompts, comps, strict=True)):
        with torch.no_grad():
            lp = model(torch.tensor([p + c])).logits.float().log_softmax(-1)[0]
        for k, tokid in enumerate(c):
            assert out["logp"][i, k].item() == pytest.approx(lp[len(p) + k - 1, tokid].item(), abs=1e-5)
            assert out["topk_logp"][i, k, 0].item() == pytest.approx(lp[len(p) + k - 1].max().item(), abs=1e-5)


def _has_vllm_gpu() -> bool:
    import importlib.util

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(not _has_vllm_gpu(), reason="the vllm policy backend needs a GPU and the [vllm] extra")
def test_vllm_colocate_rollouts_are_token_exact(tmp_path):
    from claw_trainer.run import grpo_args

    model, tok = _tiny(tmp_path)
    cfg = RunConfig()
    cfg.train.steps, cfg.train.batch_size, cfg.train.micro_batch_size, cfg.train.report_to = 1, 8, 4, []
    cfg.train.vllm, cfg.method.loss = "colocate", "binary_rl"
    args = grpo_args(cfg, tmp_path / "out")
    args.vllm_gpu_memory_utilization = 0.2
    vec = ClawVectorEnv([DigitsEnv for _ in range(8)])
    tr = ClawTrainer(model.cuda(), tok, args, cfg.method, EnvRollouts(vec, tok, "binary_rl", group_size=8), max_rounds=2)
    tr.train()
    vec.close()
    sample = tr._last_sampled[0].turn
    ids = torch.tensor([list(sample.prompt_ids) + list(sample.completion_ids)], device="cuda")
    with torch.no_grad():
        lp = tr.model(ids).logits.float().log_softmax(-1)[0]
    n = len(sample.prompt_ids)
    # the weights moved by one step since sampling; the sampler's log-probs stay close to a forward pass
    forward = [lp[n + k - 1, c].item() for k, c in enumerate(sample.completion_ids)]
    assert forward == pytest.approx(list(sample.logprobs), abs=0.1)
