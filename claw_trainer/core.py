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

Three next-state signals share this core: *evaluative* (the judge's vote or the env's return → ``A_rl``),
*directive* (the hint → the hinted teacher's ``teacher_t``) and *predictive* (ECHO, ``method.echo_coef`` = λ):

    L_total     = L + λ · mean_{observation tokens o}[ −log π(o | x, y, markup before o) ]          (with_echo)

where the observation tokens are the *content* tokens of the next state that answered the turn (``Turn.next_state``,
rendered after the turn's own prompt ⊕ sampled completion with the chat template; role headers and special
tokens are context, never targets — :func:`echo_suffix`), averaged over their own count (not the completion
tokens'), at temperature 1. λ = 0 computes nothing and returns the policy loss unchanged.
A hint source may give several candidate hints (``Turn.hint`` a list): ``method.hint_select: overlap`` keeps the
one whose hinted teacher's top-K tokens overlap the student's most (:func:`select_hints`); ``method.opd_clip``
clamps each token's ``teacher − old`` to ±c. With ``method.diagnostics`` each step also logs policy entropy,
reply length, P(EOS) at the final position, KL to the teacher on the sampled tokens and the OPD advantage's
mean/std; with ``beta > 0`` or the guard on, also KL to the reference and P(EOS)'s change from it (an extra
reference forward otherwise). :class:`Guard` (``method.guard``) watches them.

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
                        grad: bool = False, chunk_tokens: int = CHUNK_TOKENS, width: int = 0,
                        entropy: bool = False) -> dict[str, torch.Tensor]:
    """Log-probs of each completion token after its own prompt, position t of row i = completion token t.

    Returns ``logp`` (B, T) (0 at padding; T = the longest completion, or ``width`` if that is more, so a
    micro-batch lines up with its batch's tensors) and, with ``topk > 0``, ``topk_logp`` / ``topk_ids`` (B, T, K) of the
    model's own top-K tokens, and with ``gather_ids`` (B, T, K), ``gathered`` (B, T, K): the log-probs of
    those ids, and with ``entropy``, ``entropy`` (B, T): the entropy of the full next-token distribution at each
    position, from the same chunked log-softmax. Sequences are right padded. ``grad=True`` keeps the graph
    (activation-checkpointed chunks).
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
            if entropy:
                out.append(lse[:, 0] - (lg.softmax(-1) * lg).sum(-1))
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
        k += 1
    if entropy:
        out["entropy"] = torch.zeros(len(seqs), max(width, 1), device=device).index_put((rows, steps), cat[k])
    return out


MASK_BUDGET = 1 << 26  # rows × length² of a padded forward's attention mask kept under ~64M entries


def batch_logprobs(model: Any, prompts: list[list[int]], completions: list[list[int]], pad_id: int,
                   temperature: float = 1.0, gather_ids: torch.Tensor | None = None, width: int = 0,
                   **kw: Any) -> dict[str, torch.Tensor]:
    """:func:`completion_logprobs` over a whole batch, in groups of rows small enough that a padded batch of long
    sequences never materialises a (rows × L × L) attention mask (a batch of 100k-token OpenClaw prompts would
    need tens of GB at once). Results are the same tensors, concatenated along the rows."""
    longest = max((len(p) + len(c) for p, c in zip(prompts, completions, strict=True)), default=0)
    width = max(max((len(c) for c in completions), default=0), width)
    step = max(1, MASK_BUDGET // max(longest * longest, 1))
    if step >= len(prompts):
        return completion_logprobs(model, prompts, completions, pad_id, temperature, gather_ids=gather_ids,
                                   width=width, **kw)
    parts = [completion_logprobs(model, prompts[i:i + step], completions[i:i + step], pad_id, temperature,
                                 gather_ids=None if gather_ids is None else gather_ids[i:i + step], width=width, **kw)
             for i in range(0, len(prompts), step)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


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
    t = batch_logprobs(model, prompts, [list(turns[i].completion_ids) for i in idx], pad_id, temperature, topk=topk)
    w = t["logp"].shape[1]
    for key, value in t.items():
        out[key][idx, :w] = value
    return out


# -- hint candidates (OPD, second generation) --------------------------------------------------------------
def hint_candidates(hint: Any) -> list[str]:
    """The candidate hints of a turn: ``Turn.hint`` is one string or (a hint source with several) a list."""
    if not hint:
        return []
    if isinstance(hint, str):
        return [hint]
    return [h for h in hint if isinstance(h, str) and h]


def topk_overlap(teacher_ids: torch.Tensor, student_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row: |top-K(teacher) ∩ top-K(student)| / K at each position, averaged over the positions with mask 1.

    ``teacher_ids`` / ``student_ids`` (N, T, K) token ids, ``mask`` (N, T). Returns (N,) in [0, 1]."""
    k = teacher_ids.shape[-1]
    hit = (teacher_ids[..., :, None] == student_ids[..., None, :]).any(-1).float().sum(-1) / k
    m = mask.float()
    return (hit * m).sum(-1) / m.sum(-1).clamp(min=1.0)


def select_hints(model: Any, tokenizer: Any, turns: list[Any], student_topk_ids: torch.Tensor | None, method: Any,
                 pad_id: int, temperature: float = 1.0) -> tuple[list[str | None], list[float]]:
    """One hint per turn (None without a hint) and, for turns that had a choice, the chosen hint's overlap.

    ``method.hint_select == "first"`` takes the first candidate. ``"overlap"`` (OpenClaw-RL v2) scores every
    candidate of a turn with several: the hinted teacher's top-``hint_topk`` tokens at each completion position
    against the student's (``student_topk_ids`` (B, T, K), the policy under the plain prompt), averaged over
    the completion; the highest wins (ties: the earlier candidate)."""
    cands = [hint_candidates(t.hint) for t in turns]
    chosen: list[str | None] = [c[0] if c else None for c in cands]
    if method.hint_select != "overlap" or student_topk_ids is None:
        return chosen, []
    pairs = [(i, h) for i, c in enumerate(cands) if len(c) > 1 for h in c]
    if not pairs:
        return chosen, []
    k = student_topk_ids.shape[-1]
    prompts = [rendered_prompt_ids(tokenizer, turns[i], h) for i, h in pairs]
    comps = [list(turns[i].completion_ids) for i, _ in pairs]
    t = batch_logprobs(model, prompts, comps, pad_id, temperature, topk=k)
    width = t["logp"].shape[1]
    stud = torch.stack([student_topk_ids[i, :width] for i, _ in pairs]).to(t["topk_ids"].device)
    if stud.shape[1] < width:  # the teacher's rows may be wider than the student's tensor (never in practice)
        stud = torch.nn.functional.pad(stud, (0, 0, 0, width - stud.shape[1]), value=-1)
    mask = pad_rows([[1] * len(c) for c in comps], 0).to(stud.device)[:, :width]
    scores = topk_overlap(t["topk_ids"], stud, mask).tolist()
    best: dict[int, tuple[float, str]] = {}
    for (i, h), sc in zip(pairs, scores, strict=True):
        if i not in best or sc > best[i][0]:
            best[i] = (sc, h)
    for i, (_, h) in best.items():
        chosen[i] = h
    return chosen, [sc for sc, _ in best.values()]


# -- ECHO: predict the next state -------------------------------------------------------------------------------
ECHO_MAX_TOKENS = 1024  # next-state tokens (template markup included) appended per turn, at most
_SENTINEL = "\u2063CLAWECHO\u2063"


def observation_message(next_state: Any) -> dict[str, str] | None:
    """The chat message the env's next state was shown as: its text, as a ``tool`` message when a tool answered,
    else a ``user`` message (a person, a simulated user, a shell / desktop / test run). None without text."""
    if next_state is None:
        return None
    get = next_state.get if isinstance(next_state, dict) else lambda k, d=None: getattr(next_state, k, d)
    text = get("text") or ""
    if not text.strip():
        return None
    return {"role": "tool" if get("role") == "tool" else "user", "content": text}


def echo_suffix(tokenizer: Any, message: dict[str, str], after_eos: bool,
                max_tokens: int = ECHO_MAX_TOKENS) -> tuple[list[int], list[int]]:
    """(ids, target mask) of what the chat template puts after an assistant reply up to the end of ``message``.

    The template is rendered on ``[user, assistant(sentinel), message]`` and cut after the sentinel, so the ids
    hold the end-of-reply markup (without the reply's own end token when ``after_eos``: the sampled completion
    already ends with it), the message's role header, its content and its closing markup. The mask is 1 on the
    tokens that lie wholly inside the content's characters (offsets of a fast tokenizer; else the content is
    tokenised on its own) and never on a special token: role headers, ``<|im_start|>``, ``<|im_end|>`` and
    wrappers such as ``<tool_response>`` stay context, never targets. ``([], [])`` when the template cannot
    render the message or its content cannot be found in the rendering."""
    content = message["content"]
    text = None
    for role in dict.fromkeys((message["role"], "user")):  # templates without a tool role: as a user message
        try:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": "?"}, {"role": "assistant", "content": _SENTINEL},
                 {"role": role, "content": content}], tokenize=False)
            break
        except Exception:  # noqa: BLE001 - a template that rejects the role
            continue
    if not text or _SENTINEL not in text:
        return [], []
    suffix = text[text.index(_SENTINEL) + len(_SENTINEL):]
    eos = tokenizer.eos_token
    if after_eos and eos and suffix.startswith(eos):
        suffix = suffix[len(eos):]
    start = suffix.find(content)
    body = content
    if start < 0:
        body = content.strip()
        start = suffix.find(body) if body else -1
    if start < 0:
        return [], []
    end = start + len(body)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(suffix, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        mask = [int(a >= start and b <= end and b > a and i not in special)
                for i, (a, b) in zip(ids, enc["offset_mapping"], strict=True)]
    else:
        parts = [tokenizer(x, add_special_tokens=False)["input_ids"] if x else []
                 for x in (suffix[:start], suffix[start:end], suffix[end:])]
        ids = parts[0] + parts[1] + parts[2]
        mask = [0] * len(parts[0]) + [int(i not in special) for i in parts[1]] + [0] * len(parts[2])
    return ids[:max_tokens], mask[:max_tokens]


def echo_batch(samples: list[Any], tokenizer: Any, real: int, device: Any) -> dict[str, torch.Tensor]:
    """ECHO tensors of a batch: per row, the turn's own context (prompt ⊕ sampled completion) followed by its
    next state rendered as the chat template shows it (:func:`echo_suffix`).

    ``echo_ids`` (B, L) right-padded context ⊕ suffix, ``echo_ctx`` (B,) context lengths, ``echo_len`` (B,)
    suffix lengths, ``echo_mask`` (B, S): 1 on the suffix tokens that are observation content (filler rows
    past ``real`` and turns without a recorded next state are all 0)."""
    eos = tokenizer.eos_token_id
    rows, ctx, suffixes, masks = [], [], [], []
    for i, s in enumerate(samples):
        t = s.turn
        c = list(t.prompt_ids) + list(t.completion_ids)
        msg = observation_message(t.next_state) if i < real else None
        ids, m = echo_suffix(tokenizer, msg, bool(t.completion_ids) and t.completion_ids[-1] == eos) if msg else ([], [])
        rows.append(c + ids)
        ctx.append(len(c))
        suffixes.append(ids)
        masks.append(m)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return {"echo_ids": pad_rows(rows, pad, dtype=torch.long).to(device),
            "echo_ctx": torch.tensor(ctx, dtype=torch.long, device=device),
            "echo_len": torch.tensor([len(x) for x in suffixes], dtype=torch.long, device=device),
            "echo_mask": pad_rows(masks, 0).to(device)}


def echo_term(model: Any, inputs: dict[str, Any], pad_id: int,
              chunk_tokens: int = CHUNK_TOKENS) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean next-token NLL (temperature 1) of the observation-content tokens of ``inputs``' (micro-)batch, with
    grad; ``(0, ...)`` when it has none. Normalised by its own token count, not the completion tokens'."""
    ids, ctx, n, mask = inputs["echo_ids"], inputs["echo_ctx"], inputs["echo_len"], inputs["echo_mask"]
    prompts = [r[:c].tolist() for r, c in zip(ids, ctx.tolist(), strict=True)]
    suffix = [r[c:c + k].tolist() for r, c, k in zip(ids, ctx.tolist(), n.tolist(), strict=True)]
    width = mask.shape[1]
    tokens = mask.sum()
    if float(tokens) == 0:
        return torch.zeros((), device=mask.device), {"echo_loss": 0.0, "echo_tokens": 0.0}
    lp = completion_logprobs(model, prompts, suffix, pad_id, 1.0, grad=True, chunk_tokens=chunk_tokens,
                             width=width)["logp"][:, :width]
    nll = -(lp * mask).sum() / tokens
    return nll, {"echo_loss": nll.item(), "echo_tokens": float(tokens)}


def with_echo(model: Any, method: Any, inputs: dict[str, Any], loss: torch.Tensor, stats: dict[str, float],
              pad_id: int) -> tuple[torch.Tensor, dict[str, float]]:
    """``loss + method.echo_coef · echo_term`` (and its stats); ``loss`` itself, untouched, when ECHO is off.
    Both drivers call this on every (micro-)batch loss."""
    if not getattr(method, "echo_coef", 0.0) or "echo_ids" not in inputs:
        return loss, stats
    echo, es = echo_term(model, inputs, pad_id)
    return loss + method.echo_coef * echo, {**stats, **es}


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
    opd_mode = method.loss in ("opd", "combine", "topk_opd")
    has_hint = torch.tensor([s.has_hint for s in samples], device=device)
    has_score = torch.tensor([s.has_score for s in samples], device=device)
    choose = (opd_mode and getattr(method, "hint_select", "first") == "overlap"
              and any(s.has_hint and len(hint_candidates(s.turn.hint)) > 1 for s in samples))
    diag = bool(getattr(method, "diagnostics", False)) and real > 0
    eos = tok.eos_token_id
    eos_ids = torch.full((len(samples), width, 1), eos if eos is not None else 0, dtype=torch.long, device=device)
    probe = None
    if tis or foreign or diag or choose:  # one no-grad policy forward: π_old, the diagnostics, the student's top-K
        probe = batch_logprobs(policy, prompts, comps, pad, temperature,
                                    topk=method.hint_topk if choose else 0,
                                    gather_ids=eos_ids if diag and eos is not None else None, entropy=diag)
    if tis or foreign:
        out["old_per_token_logps"] = probe["logp"][:, :width]
    if tis:
        out["tis"] = torch.tensor(True, device=device)  # 0-dim: TRL's batch splitting keeps it whole
    old = out.get("old_per_token_logps", out["sampling_per_token_logps"])
    ref_lp = None
    # the reference's view (kl_ref, eos_prob_delta): free with beta > 0, an extra forward only when the guard is on
    if method.beta > 0 or (diag and getattr(method, "guard", "off") != "off" and _has_reference(models)):
        ref, ctx = models.frozen()
        with ctx:
            ref_lp = batch_logprobs(ref, prompts, comps, pad, temperature,
                                         gather_ids=eos_ids if diag and eos is not None else None)
        if method.beta > 0:
            out["ref_per_token_logps"] = ref_lp["logp"][:, :width]
    teacher = torch.zeros_like(old)
    base = old
    if opd_mode and bool(has_hint.any()):
        tmodel, ctx = models.frozen() if method.teacher == "reference" else (policy, nullcontext())
        with ctx:
            chosen, overlaps = select_hints(tmodel, tok, turns, probe.get("topk_ids") if choose else None, method,
                                            pad, temperature)
            hinted = [dataclasses.replace(t, hint=h if s.has_hint else None)
                      for s, t, h in zip(samples, turns, chosen, strict=True)]
            t = hinted_teacher_logprobs(tmodel, tok, hinted, width, pad, temperature,
                                        topk=method.topk if method.loss == "topk_opd" else 0)
        if overlaps:
            metrics["hint_overlap"] = sum(overlaps) / len(overlaps)
            metrics["hint_choices"] = float(len(overlaps))
            picked = [hint_candidates(t.hint).index(h) for t, h in zip(turns, chosen, strict=True)
                      if len(hint_candidates(t.hint)) > 1]
            metrics["hint_choice_index"] = sum(picked) / len(picked)  # 0 = always the first candidate
        teacher = t["logp"]
        if method.loss == "topk_opd":
            out["teacher_topk_logp"], out["teacher_topk_ids"] = t["topk_logp"], t["topk_ids"]
        base, mismatched = _opd_baseline(samples, policy, tok, old, pad, temperature)
        metrics["opd_prompt_mismatch"] = float(mismatched)
    a_rl = torch.tensor([s.a_rl for s in samples], device=device, dtype=torch.float32)
    if method.loss == "topk_opd":
        out["loss_mask"] = out["loss_mask"] * has_hint[:, None]
    lmask = out["loss_mask"]
    clip = getattr(method, "opd_clip", 0.0) or 0.0
    out["advantages"] = adv_fns.for_loss(method.loss, a_rl, has_score, has_hint, teacher, base, lmask,
                                         method.w_rl, method.w_opd, opd_clip=clip)
    out["num_items_in_batch"] = lmask.sum()
    if getattr(method, "echo_coef", 0.0):
        out.update(echo_batch(samples, tok, real, device))
        metrics["echo_tokens"] = float(out["echo_mask"].sum())
    if token_log is not None and real:
        hinted_any = bool(has_hint[:real].any())
        token_log.write_batch(turns[:real], version + 1, a_rl[:real].tolist(), out["advantages"][:real], lmask[:real],
                              opd=(teacher - base)[:real] if hinted_any else None, has_hint=has_hint[:real].tolist())
    if bool(has_hint[:real].any()):
        hm = lmask * has_hint[:, None]
        n_h = hm.sum().clamp(min=1)
        metrics["teacher_minus_old_logp"] = float(((teacher - base) * hm).sum() / n_h)
        if diag:
            gap = adv_fns.opd_gap(teacher, base, clip)
            mean = (gap * hm).sum() / n_h
            metrics["opd_kl"] = -metrics["teacher_minus_old_logp"]  # KL(student‖teacher) on the sampled tokens
            metrics["opd_adv_mean"] = float(mean)
            metrics["opd_adv_std"] = float((((gap - mean) ** 2) * hm).sum() / n_h) ** 0.5
    if diag:
        metrics.update(_diagnostics(samples[:real], probe, ref_lp, completion_mask[:real].to(device).float(),
                                    old[:real]))
    metrics["hint_frac"] = float(has_hint[:real].float().mean()) if real else 0.0
    metrics["tis_on"] = float("tis" in out)
    metrics["old_rescored"] = float("old_per_token_logps" in out)
    return out, metrics


def _has_reference(models: Models) -> bool:
    return models.reference is not None or hasattr(unwrap(models.policy), "disable_adapter")


def _diagnostics(samples: list[Any], probe: dict[str, torch.Tensor], ref: dict[str, torch.Tensor] | None,
                 mask: torch.Tensor, old: torch.Tensor) -> dict[str, float]:
    """Per-step health metrics on the real rows: policy entropy on the sampled positions, reply length, batch
    reward, P(EOS) at each reply's final position (and its change from the reference), KL to the reference on
    the sampled tokens (mean of old − ref, an unbiased estimate for on-policy samples)."""
    n = len(samples)
    w = mask.shape[1]
    lens = torch.tensor([len(s.turn.completion_ids) for s in samples], device=mask.device)
    m: dict[str, float] = {"reply_len": float(lens.float().mean()),
                           "batch_reward": sum(float(s.turn.reward) for s in samples) / n}
    tokens = mask.sum().clamp(min=1)
    if "entropy" in probe:
        m["entropy"] = float((probe["entropy"][:n, :w] * mask).sum() / tokens)
    last = (lens - 1).clamp(min=0)
    rows = torch.arange(n, device=mask.device)
    has = lens > 0
    if "gathered" in probe and bool(has.any()):
        p_pol = probe["gathered"][rows, last, 0].exp()[has]
        m["eos_prob"] = float(p_pol.mean())
        if ref is not None and "gathered" in ref:
            m["eos_prob_delta"] = float((p_pol - ref["gathered"][rows, last, 0].exp()[has]).mean())
    if ref is not None:
        m["kl_ref"] = float(((old - ref["logp"][:n, :w]) * mask).sum() / tokens)
    return m


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
    lp = batch_logprobs(policy, [r for _, r in redo], [list(samples[i].turn.completion_ids) for i, _ in redo],
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
