"""The end-of-run report: a reward-curve PNG and a short Markdown summary built from ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = [("step", "step", "{:.0f}"), ("reward", "reward", "{:+.3f}"), ("success", "success", "{:.2f}"),
           ("policy_loss", "loss", "{:+.4f}"), ("turns_turns", "turns", "{:.0f}"), ("turns_kept", "kept", "{:.0f}"),
           ("turns_hinted", "hinted", "{:.0f}"), ("judge_vote_mean", "mean vote", "{:+.2f}"), ("filler", "filler", "{:.0f}"),
           ("sample_tokens_per_s", "tok/s", "{:.1f}"), ("time_s", "time s", "{:.0f}")]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line after a kill
    return [r for r in rows if "step" in r]


def plot_rewards(rows: list[dict[str, Any]], out: Path, heldout: dict[str, Any] | None = None) -> Path | None:
    """Training reward per step; with ``heldout``, the held-out before/after means (95 % CI bars) too."""
    pts = [(r["step"], r["reward"]) for r in rows if r.get("reward") is not None]
    if not pts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    xs, ys = zip(*pts, strict=True)
    ax.plot(xs, ys, marker="o", lw=1.5, label="mean episode return")
    succ = [(r["step"], r["success"]) for r in rows if r.get("success") is not None]
    if succ:
        ax.plot(*zip(*succ, strict=True), marker=".", lw=1, ls="--", label="success rate")
    if heldout and "after" in heldout:
        last = max(x for x, _ in pts)
        for x, key, colour in ((0, "before", "tab:gray"), (last, "after", "tab:green")):
            m, (lo, hi) = heldout[key]["mean"], heldout[key]["ci95"]
            ax.errorbar([x], [m], yerr=[[m - lo], [hi - m]], fmt="s", color=colour, capsize=4,
                        label=f"held-out {key} ({heldout['metric']})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("reward")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def write_report(output_dir: Path, cfg: Any, summary: dict[str, Any]) -> Path:
    rows = read_metrics(output_dir / "metrics.jsonl")
    heldout = summary.get("heldout")
    png = plot_rewards(rows, output_dir / "reward_curve.png", heldout)
    c = cfg.to_dict()
    lines = [f"# claw-gym training run: {output_dir.name}", "",
             f"- model: `{c['model']['name']}`" + (f" (LoRA r={c['model']['lora_r']})" if c['model']['lora_r'] else ""),
             f"- env: `{c['env']['id']}` × {c['env']['num_envs']} (group size {c['env']['group_size']})",
             f"- method: `{c['method']['loss']}` (w_rl {c['method']['w_rl']}, w_opd {c['method']['w_opd']}, "
             f"ε {c['method']['eps_low']}/{c['method']['eps_high']}, β {c['method']['beta']}, "
             f"TIS {_tis(c['method']['tis'])})",
             f"- judge: `{c['judge']['backend']}`, hints: `{c['judge']['hint']}`, m={c['judge']['m']}",
             f"- steps: {summary.get('steps')} in {summary.get('wall_s', 0):.0f} s"
             + (f", resumed from `{summary['resumed_from']}`" if summary.get("resumed_from") else ""),
             f"- samples trained on: {summary.get('consumed_samples')}, still queued: {summary.get('pending_samples')}",
             ""]
    if heldout and "after" in heldout:
        lines += heldout_section(heldout)
    if png:
        lines += ["![reward curve](reward_curve.png)", ""]
    if rows:
        rewards = [r["reward"] for r in rows if r.get("reward") is not None]
        first, last = (rewards[0], rewards[-1]) if rewards else (None, None)
        if first is not None and last is not None and not heldout:
            lines += [f"Mean episode return went from {first:+.3f} (first round) to {last:+.3f} (last round); "
                      "with few steps and small batches this is noisy — read it as the loop working, "
                      "not as a measured improvement.", ""]
        present = [(k, h, f) for k, h, f in COLUMNS if any(k in r for r in rows)]
        lines += ["| " + " | ".join(h for _, h, _ in present) + " |", "|" + "---|" * len(present)]
        for r in rows:
            lines.append("| " + " | ".join(f.format(r[k]) if isinstance(r.get(k), int | float) else "" for k, _, f in
                                           present) + " |")
    else:
        lines.append("No metrics were logged (the run stopped before its first step).")
    path = output_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def heldout_section(h: dict[str, Any]) -> list[str]:
    """Markdown lines: the held-out table (before, noise baseline, after) and the computed verdict."""
    lines = ["## Held-out evaluation", "",
             f"{h['episodes']} held-out episodes (reset seeds disjoint from training; "
             f"{h.get('train_overlap', 0)} of them share a task id with a training sample), scored by the env's "
             f"`{h['metric']}` with env kwargs `{h.get('env_kwargs', {})}`, no judge. 95% CIs: bootstrap over episodes.",
             "", "| model | sampling seed | mean | 95% CI | eval s |", "|---|---|---|---|---|"]
    for key in ("before", "noise", "after"):
        if key in h:
            e = h[key]
            lines.append(f"| {e['label']} | {e['sample_seed']} | {e['mean']:.3f} | {e['ci95'][0]:.3f}–"
                         f"{e['ci95'][1]:.3f} | {e['wall_s']:.0f} |")
    lines += ["", f"**{h['verdict']['sentence']}**", ""]
    return lines


def _tis(mode: object) -> str:
    """The run's ``method.tis`` in words (``auto``: only for stale or externally sampled batches)."""
    if mode in ("auto", None):
        return "auto (stale or external batches)"
    return "on" if mode in (True, "on") else "off"
