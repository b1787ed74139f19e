"""THE learner core: pure functions shared by ``ClawTrainer`` (sync driver) and ``Learner`` (async driver).

Per completion token t of a turn (prompt x, completion y):

    logp_t      = log π(y_t | x, y_<t) / at the sampling temperature        (completion_logprobs, chunked)
    teacher_t   = log π_ref(y_t | x ⊕ hint, y_<t)                            (hinted_teacher_logprobs)
    A_t         = w_rl·A_rl + w_opd·(teacher_t − old_t)                      (advantages.for_loss, per loss mode)
    ρ_t         = exp(logp_t − old_t)
    w_t         = min(exp(old_t − sampler_t), tis_cap)   when TIS applies, else 1
    L           = −mean_t[w_t · min(ρ_t A_t, clip(ρ_t, 1 − ε_low, 1 + ε_high) A_t)] + β · mean_t[k3(logp_t, ref_t)]

``old`` is the sampler's log-probs when the sample came fresh from this process's own model *and* was drawn from
the learner's own distribution. It is recomputed with the policy at the start of the step whenever a sample's
sampling parameters or engine differ from the learner's (another temperature, a top-p/top-k truncation, another
engine — :func:`sampled_like_learner`; e.g. a client of ``claw serve`` asking for temperature 0.3), and with
``method.tis: on``, or ``auto`` with a stale sample or an external sampler; TIS then corrects for the sampler
(``method.tis: off`` keeps the recomputed π_old without the TIS weight).
The OPD baseline of a hinted turn is ``old``, except when re-rendering the turn's messages with our chat
template does not give back its sampled ``prompt_ids`` (another engine or template sampled it): then the
baseline is the student's log-prob under the re-rendered prompt, so ``teacher − baseline`` measures the
hint and nothing else. The reference/teacher is a frozen copy of the *initial* weights
(:func:`frozen_copy`), or the base model with the LoRA adapter disabled.

Log-probs never build a (batch × length × vocab) tensor: the final hidden states of the completion
positions go through the output layer ``chunk_tokens`` positions at a time (with activation
checkpointing when gradients are needed), so peak memory is ``chunk_tokens × vocab`` floats.
"""

from __future__ import annotations

import copy
import dataclasses
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from claw_trainer import advantages as adv_fns
from claw_trainer.losses import clipped_surrogate, masked_mean, topk_reverse_kl

HINT_HEADER = "\n\n[user's hint / instruction]\n"
CHUNK_TOKENS = 512


# -- models ------------------------------------------------------------------------------------------------
def frozen_copy(model: Any) -> Any:
    """A frozen (eval, no grad) copy of ``model``'s current weights.

    Must be called on a module nobody has patched: ``trl.GRPOTrainer.__init__`` replaces ``model.forward``
    with a closure over the original module, so a deepcopy taken *after* it still runs the live policy.
    The copy is checked: its forward must not be an instance attribute (a patched forward).
    """
    if "forward" in vars(model):
        raise RuntimeError("frozen_copy: model.forward has been patched on the instance (e.g. by "
                           "trl.GRPOTrainer.__init__); a copy would still run the original module. "
                           "Copy the model before handing it to the trainer.")
    ref = copy.deepcopy(model).eval()
    ref.requires_grad_(False)
    return ref


def unwrap(model: Any) -> Any:
    """The transformers model under DDP/accelerate wrappers (``.module``)."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model


def _decoder_and_head(model: Any) -> tuple[Any, Any] | None:
    model = unwrap(model)
    get_dec = getattr(model, "get_decoder", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    try:
        dec = get_dec() if callable(get_dec) else None
    except (AttributeError, NotImplementedError):
        dec = None
    if dec is None or head is None or dec is model:
        return None
    return dec, head


def _final_logits_fn(model: Any, head: Any, temperature: float):
    cap = getattr(getattr(unwrap(model), "config", None), "final_logit_softcapping", None)

    def logits(h: torch.Tensor) -> torch.Tensor:
        x = head(h).float()
        if cap:
            x = torch.tanh(x / cap) * cap
        return x / temperature
    return logits


def pad_rows(rows: list[list[int]] | list[list[float]], value: float, left: bool = False,
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), value, dtype=dtype)
    for i, r in enumerate(rows):
        if len(r):
            if left:
                out[i, width - len(r):] = torch.tensor(list(r), dtype=dtype)
            else:
                out[i, :len(r)] = torch.tensor(list(r), dtype=dtype)
    return out


def completion_logprobs(model: Any, prompts: list[list[int]], completions: list[list[int]], pad_id: int,
                        temperature: float = 1.0, topk: int = 0, gather_ids: torch.Tensor | None = None,
                        grad: bool = False, chunk_tokens: int = CHUNK_TOKENS, width: int = 0
                        ) -> dict[str, torch.Tensor]:
    """Log-probs of each completion token after its own prompt, position t of row i = completion token t.

    Returns ``logp`` (B, T) (0 at padding; T = the longest completion, or ``width`` if that is more, so a
    micro-batch lines up with its batch's tensors) and, with ``topk > 0``, ``topk_logp`` / ``topk_ids`` (B, T, K) of the
    model's own top-K tokens, and with ``gather_ids`` (B, T, K), ``gathered`` (B, T, K): the log-probs of
    those ids. Sequences are right padded. ``grad=True`` keeps the graph (activation-checkpointed chunks).
    """
    temperature = temperature or 1.0
    seqs = [list(p) + list(c) for p, c in zip(prompts, completions, strict=True)]
    width = max(max((len(c) for c in completions), default=0), width)
    device = next(unwrap(model).parameters()).device
    ids = pad_rows(seqs, pad_id, dtype=torch.long).to(device)
    attn = pad_rows([[1] * len(s) for s in seqs], 0, dtype=torch.long).to(device)
    rows = torch.tensor([i for i, c in enumerate(completions) for _ in c], dtype=torch.long, device=device)
    cols = torch.tensor([len(p) - 1 + t for p, c in zip(prompts, completions, strict=True) for t in range(len(c))],
                        dtype=torch.long, device=device)
    steps = torch.tensor([t for c in completions for t in range(len(c))], dtype=torch.long, device=device)
    targets = ids[rows, cols + 1]
    ctx = nullcontext() if grad else torch.no_grad()
    with ctx:
        parts = _decoder_and_head(model)
        if parts is not None:
            dec, head = parts
            hidden = dec(input_ids=ids, attention_mask=attn).last_hidden_state[rows, cols]  # (N, H)
            to_logits = _final_logits_fn(model, head, temperature)
        else:  # a model without get_decoder(): full logits, then the same per-position maths
            hidden = model(input_ids=ids, attention_mask=attn).logits[rows, cols].float() / temperature
            to_logits = lambda h: h  # noqa: E731
        gathered_ids = gather_ids[rows, steps] if gather_ids is not None else None

        def score(h: torch.Tensor, tgt: torch.Tensor, extra: torch.Tensor | None):
            lg = to_logits(h)
            lse = lg.logsumexp(-1, keepdim=True)
            out = [(lg.gather(-1, tgt[:, None]) - lse)[:, 0]]
            if topk:
                v, ix = lg.topk(topk, dim=-1)
                out += [v - lse, ix]
            if extra is not None:
                out.append(lg.gather(-1, extra) - lse)
            return tuple(out)

        pieces = []
        for s in range(0, len(rows), chunk_tokens):
            e = s + chunk_tokens
            extra = gathered_ids[s:e] if gathered_ids is not None else None
            if grad and torch.is_grad_enabled():
                pieces.append(checkpoint(score, hidden[s:e], targets[s:e], extra, use_reentrant=False))
            else:
                pieces.append(score(hidden[s:e], targets[s:e], extra))
    out = {"logp": torch.zeros(len(seqs), max(width, 1), device=device)}
    if not pieces:
        return out
    cat = [torch.cat(p) for p in zip(*pieces, strict=True)]
    out["logp"] = out["logp"].index_put((rows, steps), cat[0])
    k = 1
    if topk:
        out["topk_logp"] = torch.full((len(seqs), max(width, 1), topk), -1e9, device=device).index_put(
            (rows, steps), cat[1])
        out["topk_ids"] = torch.zeros((len(seqs), max(width, 1), topk), dtype=torch.long, device=device).index_put(
            (rows, steps), cat[2])
        k = 3
    if gather_ids is not None:
        out["gathered"] = torch.full(tuple(gather_ids.shape), -1e9, device=device).index_put((rows, steps), cat[k])
    return out


# -- prompts -----------------------------------------------------------------------------------------------
def with_hint(messages: list[dict[str, Any]], hint: str) -> list[dict[str, Any]]:
    """The enhanced context: the hint appended to the last user message (a new user message if none)."""
    msgs = [dict(m) for m in messages]
    for m in reversed(msgs):
        if m.get("role") == "user":
            m["content"] = _text(m.get("content")) + HINT_HEADER + hint
            return msgs
    return msgs + [{"role": "user", "content": HINT_HEADER.lstrip("\n") + hint}]


def _text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI multi-part content: keep the text parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def rendered_prompt_ids(tokenizer: Any, turn: Any, hint: str | None = None) -> list[int]:
    from claw_trainer.policy.hf import chat_prompt_ids

    msgs = turn.messages or []
    return chat_prompt_ids(tokenizer, with_hint(msgs, hint) if hint else msgs, turn.tools)


def hinted_teacher_logprobs(model: Any, tokenizer: Any, turns: list[Any], width: int, pad_id: int,
                            temperature: float = 1.0, topk: int = 0) -> dict[str, torch.Tensor]:
    """Teacher log-probs (B, width) of each turn's own completion under its hinted context; zero for turns
    without a hint. With ``topk``, also ``topk_logp`` / ``topk_ids`` (B, width, K)."""
    device = next(unwrap(model).parameters()).device
    idx = [i for i, t in enumerate(turns) if t.hint]
    out = {"logp": torch.zeros(len(turns), width, device=device)}
    if topk:
        out["topk_logp"] = torch.full((len(turns), width, topk), -1e9, device=device)
        out["topk_ids"] = torch.zeros((len(turns), width, topk), dtype=torch.long, device=device)
    if not idx:
        return out
    prompts = [rendered_prompt_ids(tokenizer, turns[i], turns[i].hint) for i in idx]
    t = completion_logprobs(model, prompts, [list(turns[i].completion_ids) for i in idx], pad_id, temperature, topk)
    w = t["logp"].shape[1]
    for key, value in t.items():
        out[key][idx, :w] = value
    return out


# -- one batch ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Models:
    """What a driver hands the core: the policy, and how to run the frozen reference."""

    policy: Any
    tokenizer: Any
    reference: Any = None  # a frozen_copy, or None with LoRA (then the adapter is disabled)

    def frozen(self) -> tuple[Any, AbstractContextManager]:
        if self.reference is not None:
            return self.reference, nullcontext()
        base = unwrap(self.policy)
        if not hasattr(base, "disable_adapter"):
            raise RuntimeError("no reference model: pass a frozen_copy of the initial weights, or use LoRA")
        return base, base.disable_adapter()


def needs_reference(method: Any) -> bool:
    return method.beta > 0 or (method.loss in ("opd", "combine", "topk_opd") and method.teacher == "reference")


LEARNER_ENGINE = "hf"  # the learner scores with the transformers forward, as claw_trainer.policy.hf samples


def sampled_like_learner(turn: Any, temperature: float) -> bool:
    """True when ``turn`` was sampled from the learner's own distribution: same temperature, no top-p / top-k
    truncation, the same engine. A field the sampler did not record (None) counts as the learner's."""
    t, p, k, engine = (getattr(turn, a, None) for a in ("temperature", "top_p", "top_k", "engine"))
    return ((t is None or abs(float(t) - float(temperature or 1.0)) < 1e-6) and (p is None or float(p) >= 1.0)
            and (k is None or int(k) <= 0) and (engine is None or engine == LEARNER_ENGINE))


def tis_applies(method: Any, stale: bool, external_sampler: bool) -> bool:
    """TIS (and a recomputed π_old) on: ``on`` always, ``auto`` for stale or externally sampled batches."""
    mode = {True: "on", False: "off"}.get(method.tis, method.tis)  # MethodConfig(tis=True) from Python
    return mode == "on" or (mode == "auto" and (stale or external_sampler))


def prepare_batch(samples: list[Any], models: Models, method: Any, temperature: float, version: int,
                  external_sampler: bool = False, real: int | None = None, device: Any = None,
                  token_log: Any = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Tensors for the loss (TRL's key names) and metrics, for ``samples`` (:class:`TrainSample`).

    Rows past ``real`` are filler: kept for shapes, never counted (``loss_mask`` 0). With ``token_log`` (a
    :class:`~claw_trainer.view.tokens.TokenLog`), the per-token advantages and OPD log-ratios of the real rows
    are appended to it (what ``claw view`` colours tokens by).
    """
    real = len(samples) if real is None else real
    tok = models.tokenizer
    pad = tok.pad_token_id
    device = device or next(unwrap(models.policy).parameters()).device
    turns = [s.turn for s in samples]
    prompts = [list(t.prompt_ids) for t in turns]
    comps = [list(t.completion_ids) for t in turns]
    completion_mask = pad_rows([[1] * len(c) for c in comps], 0, dtype=torch.long)
    mask = completion_mask.float()
    mask[real:] = 0.0
    sampler = pad_rows([list(t.logprobs) for t in turns], 0.0)
    out: dict[str, Any] = {
        "prompt_ids": pad_rows(prompts, pad, left=True, dtype=torch.long).to(device),
        "prompt_mask": pad_rows([[1] * len(p) for p in prompts], 0, left=True, dtype=torch.long).to(device),
        "completion_ids": pad_rows(comps, pad, dtype=torch.long).to(device),
        "completion_mask": completion_mask.to(device), "loss_mask": mask.to(device),
        "sampling_per_token_logps": sampler.to(device)}
    metrics: dict[str, float] = {}
    stale = any(t.policy_version < version for t in turns[:real])
    foreign = not all(sampled_like_learner(t, temperature) for t in turns[:real])  # another distribution/engine
    policy = unwrap(models.policy)
    width = out["completion_ids"].shape[1]
    tis = tis_applies(method, stale, external_sampler or foreign)
    if tis or foreign:
        out["old_per_token_logps"] = completion_logprobs(policy, prompts, comps, pad, temperature)["logp"][:, :width]
    if tis:
        out["tis"] = torch.tensor(True, device=device)  # 0-dim: TRL's batch splitting keeps it whole
    old = out.get("old_per_token_logps", out["sampling_per_token_logps"])
    if method.beta > 0:
        ref, ctx = models.frozen()
        with ctx:
            out["ref_per_token_logps"] = completion_logprobs(ref, prompts, comps, pad, temperature)["logp"][:, :width]
    has_hint = torch.tensor([s.has_hint for s in samples], device=device)
    has_score = torch.tensor([s.has_score for s in samples], device=device)
    teacher = torch.zeros_like(old)
    base = old
    if method.loss in ("opd", "combine", "topk_opd") and bool(has_hint.any()):
        hinted = [t if s.has_hint else dataclasses.replace(t, hint=None) for s, t in zip(samples, turns, strict=True)]
        tmodel, ctx = models.frozen() if method.teacher == "reference" else (policy, nullcontext())
        with ctx:
            t = hinted_teacher_logprobs(tmodel, tok, hinted, width, pad, temperature,
                                        topk=method.topk if method.loss == "topk_opd" else 0)
        teacher = t["logp"]
        if method.loss == "topk_opd":
            out["teacher_topk_logp"], out["teacher_topk_ids"] = t["topk_logp"], t["topk_ids"]
        base, mismatched = _opd_baseline(samples, policy, tok, old, pad, temperature)
        metrics["opd_prompt_mismatch"] = float(mismatched)
    a_rl = torch.tensor([s.a_rl for s in samples], device=device, dtype=torch.float32)
    if method.loss == "topk_opd":
        out["loss_mask"] = out["loss_mask"] * has_hint[:, None]
    lmask = out["loss_mask"]
    out["advantages"] = adv_fns.for_loss(method.loss, a_rl, has_score, has_hint, teacher, base, lmask,
                                         method.w_rl, method.w_opd)
    out["num_items_in_batch"] = lmask.sum()
    if token_log is not None and real:
        hinted = bool(has_hint[:real].any())
        token_log.write_batch(turns[:real], version + 1, a_rl[:real].tolist(), out["advantages"][:real], lmask[:real],
                              opd=(teacher - base)[:real] if hinted else None, has_hint=has_hint[:real].tolist())
    if bool(has_hint[:real].any()):
        hm = lmask * has_hint[:, None]
        metrics["teacher_minus_old_logp"] = float(((teacher - base) * hm).sum() / hm.sum().clamp(min=1))
    metrics["hint_frac"] = float(has_hint[:real].float().mean()) if real else 0.0
    metrics["tis_on"] = float("tis" in out)
    metrics["old_rescored"] = float("old_per_token_logps" in out)
    return out, metrics


def _opd_baseline(samples: list[Any], policy: Any, tok: Any, old: torch.Tensor, pad: int,
                  temperature: float) -> tuple[torch.Tensor, int]:
    """(baseline log-probs, number of hinted turns whose sampled prompt differs from our re-rendering)."""
    redo = []
    for i, s in enumerate(samples):
        if s.has_hint and s.turn.messages is not None:
            rendered = rendered_prompt_ids(tok, s.turn)
            if rendered != list(s.turn.prompt_ids):
                redo.append((i, rendered))
    if not redo:
        return old, 0
    base = old.clone()
    lp = completion_logprobs(policy, [r for _, r in redo], [list(samples[i].turn.completion_ids) for i, _ in redo],
                             pad, temperature)["logp"]
    for k, (i, _) in enumerate(redo):
        n = len(samples[i].turn.completion_ids)
        base[i, :n] = lp[k, :n]
    return base, len(redo)


def micro_slice(inputs: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """Rows ``start:end`` of every batched tensor in ``inputs`` (scalars and flags are kept)."""
    return {k: (v[start:end] if isinstance(v, torch.Tensor) and v.dim() > 0 else v) for k, v in inputs.items()}


def policy_loss(method: Any, inputs: dict[str, Any], logp: torch.Tensor | None = None,
                student_topk: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one (micro-)batch from the policy's log-probs of its completion tokens (with grad).

    ``logp`` (B, T) for the clipped-surrogate modes; ``student_topk`` (B, T, K), the policy's log-probs of the
    teacher's top-K ids, for ``topk_opd``.
    """
    mask = inputs["loss_mask"]
    if method.loss == "topk_opd":
        return topk_reverse_kl(student_topk, inputs["teacher_topk_logp"], mask), {}
    sampler = inputs["sampling_per_token_logps"]
    old = inputs.get("old_per_token_logps", sampler)
    loss, stats = clipped_surrogate(
        logp, old, inputs["advantages"], mask, eps_low=method.eps_low, eps_high=method.eps_high,
        logp_ref=inputs.get("ref_per_token_logps"), beta=method.beta,
        logp_sampler=sampler if "tis" in inputs else None, tis_cap=method.tis_cap)
    with torch.no_grad():
        stats["approx_kl_to_sampler"] = masked_mean(sampler - logp, mask).item()
        stats["ratio_mean"] = masked_mean(torch.exp(logp - old), mask).item()
    return loss, stats
