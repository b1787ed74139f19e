"""The publish gate in front of a real `claw serve` (HTTP on 127.0.0.1, a tiny model, the Digits toy env).

A policy-gradient update on Digits-v0's reward is a good update; the same update with the reward inverted is
a harmful one. The gate must publish the first, reject the second while serving stays on the last good
version, and `claw rollback` must switch versions while requests are in flight without failing any. With a
real Learner + AsyncLoops + TurnStore behind it, the learner keeps stepping after rejections and rollbacks,
and its next candidate descends from the served weights.
"""

import json
import threading

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
pytest.importorskip("trl", reason="the [train] extra is not installed")

import httpx  # noqa: E402
import torch  # noqa: E402

from claw_envs.core.errors import ConfigError  # noqa: E402
from claw_envs.vector import ClawVectorEnv  # noqa: E402
from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.gate import GateConfig, PublishGate, attach_gate, request_rollback  # noqa: E402
from claw_trainer.gate.decision import decide, paired_binary_p_value, step_test  # noqa: E402
from claw_trainer.toy import DigitsEnv  # noqa: E402

SUITE = {"env": "claw_trainer.toy:DigitsEnv", "episodes": 4}


def _cfg(tmp_path):
    return load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                              "--train.max_new_tokens", "8", "--train.temperature", "0.0",
                              "--train.output_dir", str(tmp_path / "run")])


def _pg_steps(model, tok, steps: int, sign: float, lr: float = 1e-2) -> None:
    """REINFORCE on Digits-v0 (8 samples per step, group-normalised), the reward multiplied by ``sign``."""
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    policy = HFPolicy(model, tok, 8, 1.0)
    vec = ClawVectorEnv([DigitsEnv] * 8)
    try:
        for _ in range(steps):
            turns = [ep[0] for ep in collect_episodes(vec, policy, [0] * 8)]
            r = sign * torch.tensor([t.reward for t in turns])
            adv = (r - r.mean()) / (r.std() + 1e-6)
            model.train()
            loss = torch.zeros(())
            for t, a in zip(turns, adv, strict=True):
                ids = torch.tensor([list(t.prompt_ids) + list(t.completion_ids)])
                logp = model(ids).logits[0, len(t.prompt_ids) - 1:-1].log_softmax(-1)
                lp = logp.gather(-1, torch.tensor(t.completion_ids)[:, None]).mean()
                loss = loss - a * lp / len(turns)
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.eval()
    finally:
        vec.close()


def _greedy_score(model, tok) -> float:
    from claw_trainer.policy.hf import HFPolicy

    reply = HFPolicy(model, tok, 8, 0.0).sample([[{"role": "user", "content": "Reply with digits only."}]])[0].text
    return DigitsEnv.score(reply)


def _train_until(model, tok, sign: float, done, max_steps: int = 20) -> int:
    """PG steps (reward × ``sign``) until ``done(greedy score)``; the update's direction is what is tested,
    so the number of steps a seed needs does not matter."""
    for step in range(1, max_steps + 1):
        _pg_steps(model, tok, 1, sign, lr=5e-2)
        if done(_greedy_score(model, tok)):
            return step
    raise AssertionError(f"{max_steps} steps with reward sign {sign:+} did not move the greedy reply")


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _ask(client, stack, text="Reply with digits only."):
    r = client.post(stack.base_url + "/chat/completions",
                    json={"messages": [{"role": "user", "content": text}], "max_tokens": 8, "temperature": 0})
    return r


@pytest.fixture
def served(tmp_path):
    from claw_trainer.models import load_model
    from claw_trainer.serving.stack import ServeStack

    stack = ServeStack(_cfg(tmp_path), learn=False)
    model, tok = load_model("tiny", cache_dir=tmp_path / "cache")  # the learner's copy (same start weights)
    yield stack, model, tok
    stack.stop()


def _gated(stack, **cfg) -> PublishGate:
    """Attach a gate to a running-to-be stack the way ServeStack does for gate.enabled (admin routes, /health)."""
    stack.gate = attach_gate(stack, GateConfig(suite=SUITE, **cfg))
    return stack.gate


def test_harmful_update_is_rejected_while_serving_stays_on_the_last_good_version(served, tmp_path):
    stack, model, tok = served
    torch.manual_seed(0)
    gate = _gated(stack, delta=0.05, max_drift_kl=100.0)
    stack.start()
    with httpx.Client(timeout=120) as client:
        assert gate.wait_idle()
        base = gate.store.decisions()[0]
        assert base["decision"] == "baseline" and base["version"] == 0

        _train_until(model, tok, +1.0, lambda s: s > base["metric"] + 0.5)  # a good update
        gate.publish(_state(model), 1)
        assert gate.wait_idle()
        good = gate.store.decisions()[-1]
        assert good["decision"] == "published", good
        assert good["metric"] > base["metric"] + 0.05 and good["diff"] > 0
        body = _ask(client, stack).json()
        assert body["policy_version"] == 1
        good_reply = body["choices"][0]["message"]["content"]

        _train_until(model, tok, -1.0, lambda s: s < good["metric"] - 0.5)  # the same, rewards inverted
        gate.publish(_state(model), 2)
        in_flight = [_ask(client, stack) for _ in range(3)]  # served while the gate evaluates v2
        assert gate.wait_idle()
        bad = gate.store.decisions()[-1]
        health = client.get(f"http://{stack.host}:{stack.port}/health").json()
        after = _ask(client, stack).json()
    assert bad["decision"] == "rejected" and bad["version"] == 2, bad
    assert bad["metric"] < good["metric"] - 0.05 and bad["baseline_version"] == 1
    assert bad["diff"] < bad["threshold"] and "reason" in bad and not bad["checks"]["step"]  # with its numbers
    assert all(r.status_code == 200 and r.json()["policy_version"] == 1 for r in in_flight)
    assert after["policy_version"] == 1 and after["choices"][0]["message"]["content"] == good_reply
    g = health["gate"]
    assert g["served_version"] == 1 and g["counts"]["rejected"] == 1 and g["counts"]["published"] == 1
    assert g["kept_versions"] == [0, 1] and g["drift_kl"] is not None and g["drift_kl"] > 0
    assert stack.policy.version == 1
    assert not (tmp_path / "run" / "versions" / "v2.pt").exists()  # rejected weights are not kept
    gate.stop()


def test_rollback_switches_versions_with_requests_in_flight(served, tmp_path):
    stack, model, tok = served
    root = tmp_path / "run" / "versions"
    gate = _gated(stack, delta=100.0, keep=2, max_drift_kl=0.0)  # everything passes
    stack.start()
    for v in (1, 2, 3):
        _pg_steps(model, tok, 1, +1.0, lr=5e-2)
        gate.publish(_state(model), v)
        assert gate.wait_idle()
    assert gate.store.kept() == [0, 2, 3]  # the base and the last keep=2; v1's file was pruned
    assert stack.policy.version == 3

    seen, failures, stop = [], [], threading.Event()

    def hammer():
        """Chat through the official OpenAI SDK (no retries, so no failure is hidden); httpx where it is absent."""
        try:
            import openai
        except ImportError:
            openai = None
        if openai is not None:
            c = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, timeout=120)
            while not stop.is_set():
                try:
                    r = c.chat.completions.create(model="claw", messages=[{"role": "user", "content": "hello"}],
                                                  max_tokens=8, temperature=0)
                    seen.append(r.model_extra["policy_version"])
                except openai.OpenAIError as e:
                    failures.append(repr(e))
            return
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                r = _ask(c, stack, "hello")
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    seen.append(r.json()["policy_version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        while len(seen) < 3:
            threading.Event().wait(0.05)
        from claw_trainer.cli import main

        assert main(["rollback", "--to", "2", "--run", str(tmp_path / "run")]) == 0  # through the admin API
        n = len(seen)
        while len(seen) < n + 3:
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not failures, failures[:3]
    assert 3 in seen and seen[-1] == 2 and stack.policy.version == 2
    assert seen.index(2) > seen.index(3)  # ordered: v3 until the switch, v2 after it

    url = f"http://{stack.host}:{stack.port}"
    with httpx.Client(timeout=60) as c:
        assert c.post(url + "/admin/rollback", json={"version": 0}).status_code == 401
        assert c.post(url + "/admin/rollback", json={"version": 0},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
        token = (root / "admin.token").read_text().strip()
        r = c.post(url + "/admin/rollback", json={"version": 1}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404 and "kept versions" in r.text  # pruned
        assert c.get(url + "/health").json()["gate"]["served_version"] == 2
    decisions = [json.loads(line)["decision"] for line in (root / "gate.jsonl").read_text().splitlines()]
    assert decisions == ["baseline", "published", "published", "published", "rollback"]
    gate.stop()
    stack.stop()

    # no server: the rollback is written to the index and applied by the next gate on this folder
    assert request_rollback(root, 0, url)[0] == "offline"
    with pytest.raises(ConfigError, match="kept versions"):
        request_rollback(root, 1, url)
    from claw_trainer.serving.policy import ServedPolicy

    policy = ServedPolicy(model, tok, 8, 0.0, version=3)
    restarted = PublishGate(policy, GateConfig(suite=SUITE, max_drift_kl=0.0), root).start()
    assert restarted.wait_idle() and policy.version == 0
    restarted.stop()
    policy.close()


def test_13_of_16_against_16_of_16_is_rejected_and_ties_need_enough_episodes():
    last = [1.0] * 16
    worse = [1.0] * 13 + [0.0] * 3
    for delta in (0.0, 0.05, 0.1, 0.2):  # the exact paired test: no margin up to 0.2 lets 3 losses pass
        v = decide(worse, last, last, 0.0, delta, 0.05, 1.0)
        assert not v["passed"] and not v["checks"]["step"] and v["test"] == "exact paired binary", v
        assert v["p_value"] > 0.5
    # the old rule (z-score allowance on top of δ) let this pass: mean −0.1875 ≥ −(0.05 + 1.64 · 0.1008)
    # a tie proves non-inferiority only with enough episodes: p = (1 − δ)^n exactly
    assert paired_binary_p_value(0, 0, 16, 0.05) == pytest.approx(0.95 ** 16, rel=1e-6)
    assert not decide(last, last, last, 0.0, 0.05, 0.05, 1.0)["passed"]
    assert decide(last, last, last, 0.0, 0.2, 0.05, 1.0)["passed"]  # 0.8^16 = 0.028 ≤ 0.05
    assert GateConfig(delta=0.05).min_binary_episodes() == 59 and GateConfig(delta=0.2).min_binary_episodes() == 14
    half = [1.0] * 8 + [0.0] * 8
    assert decide(last, half, half, 0.0, 0.05, 0.05, 1.0)["passed"]  # 8 won, none lost: a real improvement
    assert not decide([1.0] * 8 + [0.0] * 8, [0.0] * 8 + [1.0] * 8, half, 0.0, 0.2, 0.05, 1.0)["passed"]  # 8 won, 8 lost


def test_small_regressions_never_accumulate_past_delta():
    """Each candidate is within δ of the last published version (it passes the step test), but the gate also
    bounds mean(candidate − base) ≥ −δ: the chain stops before it is δ below the base."""
    delta, base = 0.05, [0.5 + 0.01 * i for i in range(16)]
    last, published = base, []
    for k in range(1, 11):
        cand = [x - 0.02 for x in last]  # each candidate: 0.02 below the last published version
        step = step_test(cand, last, delta, 0.05, binary=False)
        v = decide(cand, last, base, 0.0, delta, 0.05, 1.0)
        assert step["passed"], (k, step)  # 0.02 below the last published version: within δ
        if v["passed"]:
            published.append(v["diff_base"])
            last = cand
        else:
            assert v["checks"] == {"step": True, "base": False, "drift": True}, v
            assert "base" in v["reasons"][0]
    assert published == pytest.approx([-0.02, -0.04])  # then −0.06 vs the base, again and again: never


def test_the_drift_cap_decides_and_the_t_bound_counts_noise():
    same = [0.2, -0.1, 0.4, 0.0]
    assert decide(same, same, same, 0.3, 0.05, 0.05, 1.0)["passed"]
    capped = decide(same, same, same, 1.5, 0.05, 0.05, 1.0)
    assert not capped["passed"] and capped["checks"]["drift"] is False and "drift" in capped["reasons"][0]
    assert decide(same, same, same, 1.5, 0.05, 0.05, 0.0)["passed"]  # max_drift_kl 0: no cap
    noisy = step_test([0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0], 0.05, 0.05, binary=False)
    assert not noisy["passed"] and noisy["lcb"] < -0.05  # mean 0 but noise: not shown within δ
    assert step_test([0.5] * 4, [0.5] * 4, 0.05, 0.05, binary=False)["passed"]


def test_gate_config_errors():
    with pytest.raises(ConfigError, match="gate.suite.env"):
        GateConfig(suite={"episodes": 2}).validate()
    with pytest.raises(ConfigError, match="unknown keys"):
        GateConfig(suite={"env": "claw/Chat-v0", "episode": 2}).validate()
    with pytest.raises(ConfigError, match="seeds"):
        GateConfig(suite={"env": "claw/Chat-v0"}).validate()
    with pytest.raises(ConfigError, match="gate.metric"):
        GateConfig(suite=SUITE, metric="vibes").validate()
    with pytest.raises(ConfigError, match="gate.alpha"):
        GateConfig(suite=SUITE, alpha=0.7).validate()
    with pytest.raises(ConfigError, match="exceeds the learner's max_staleness=4"):
        GateConfig(suite=SUITE, every=6).check_staleness(4)
    GateConfig(suite=SUITE, every=4).check_staleness(4)


def test_serve_learn_publishes_only_through_the_gate(tmp_path):
    """`claw serve --learn` with `gate.enabled` in the config: every trained version reaches serving only via a
    decision."""
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--judge.backend", "rules", "--judge.hint", "rules", "--judge.m", "1", "--method.loss", "combine",
                             "--train.batch_size", "2", "--train.micro_batch_size", "2", "--train.lr", "1e-2",
                             "--train.max_new_tokens", "6", "--train.output_dir", str(tmp_path / "run"),
                             "--gate.enabled", "true", "--gate.suite", json.dumps(SUITE), "--gate.delta", "0.0",
                             "--gate.max_drift_kl", "0"])
    stack = ServeStack(cfg, learn=True, max_steps=2)
    gate = stack.gate
    assert gate is not None
    replies = ["that's wrong, try again", "thanks, perfect"]
    with stack, httpx.Client(timeout=120) as client:
        for s in range(6):
            history = [{"role": "user", "content": "what is 2+2?"}]
            for k in range(3):
                r = client.post(stack.base_url + "/chat/completions", json={"messages": history, "max_tokens": 6},
                                headers={"X-Session-Id": f"s{s}"})
                assert r.status_code == 200, r.text
                history += [{"role": "assistant", "content": r.json()["choices"][0]["message"]["content"]},
                            {"role": "user", "content": replies[(s + k) % 2]}]
            client.post(f"{stack.base_url}/sessions/s{s}/close")
        url = f"http://{stack.host}:{stack.port}/health"
        assert stack.loops.wait_steps(2, timeout=180) or stack.loops.learner.step >= 2, client.get(url).text
        deadline = __import__("time").monotonic() + 120
        while __import__("time").monotonic() < deadline and not (
                {d["version"] for d in gate.store.decisions()} >= {1, 2} and gate.wait_idle(1)):
            threading.Event().wait(0.2)
        health = client.get(url).json()
    gate.stop()
    decisions = gate.store.decisions()
    by_version = {d["version"]: d["decision"] for d in decisions if d["version"] in (1, 2)}
    assert set(by_version) == {1, 2}, decisions
    assert set(by_version.values()) <= {"published", "rejected", "superseded", "discarded"}
    published = [d["version"] for d in decisions if d["decision"] == "published"]
    assert stack.policy.publishes == len(published)  # nothing reached serving without passing the gate
    assert health["gate"]["served_version"] == (published[-1] if published else 0) == health["policy_version"]


# -- the gate and a real learner ----------------------------------------------------------------------------
def _learning(tmp_path, gate_cfg: dict, max_staleness: int = 2, lr: float = 1e-3):
    """Real TurnStore + ServedPolicy + Learner + AsyncLoops fed by an EnvProducer on Digits-v0 (no judge: the
    env's outcome is the reward), publishing through a gate; ``snapshots[step]`` = the learner's weights."""
    from claw_envs.vector import ClawVectorEnv
    from claw_trainer.async_loops import AsyncLoops
    from claw_trainer.config import MethodConfig
    from claw_trainer.env_producer import EnvProducer
    from claw_trainer.learner import Learner
    from claw_trainer.models import load_model
    from claw_trainer.serving.policy import ServedPolicy
    from claw_trainer.store import TurnStore

    torch.manual_seed(0)
    model, tok = load_model("tiny", cache_dir=tmp_path / "cache")
    served = ServedPolicy(load_model("tiny", cache_dir=tmp_path / "cache")[0], tok, 8, 1.0)
    store = TurnStore(tmp_path / "turns.sqlite")
    learner = Learner(model, tok, MethodConfig(loss="binary_rl"), lr=lr, max_staleness=max_staleness)
    snapshots: dict[int, dict] = {0: _state(model)}
    loops = AsyncLoops(store, served, learner, batch_size=4, checkpoint=tmp_path / "learner.pt",
                       on_step=lambda m: snapshots.__setitem__(learner.step, learner.state_dict()))
    gate = PublishGate(served, GateConfig(suite=SUITE, **gate_cfg), tmp_path / "versions")
    gate.attach_learner(loops, learner.max_staleness)
    loops.route_publishes(gate)
    producer = EnvProducer(ClawVectorEnv([DigitsEnv] * 4), served, store, loops.notify, group_size=4,
                           env_id="claw_trainer.toy:DigitsEnv")
    return served, store, learner, loops, gate, producer, snapshots


def _run(parts, steps: int, timeout: float = 240.0) -> None:
    served, store, learner, loops, gate, producer, _ = parts
    deadline = __import__("time").monotonic() + timeout
    while learner.step < steps and __import__("time").monotonic() < deadline:
        loops.raise_if_dead()
        threading.Event().wait(0.1)
    assert learner.step >= steps, (learner.step, dict(loops.stats), gate.counts, store.counts())


def _close(parts) -> None:
    served, store, learner, loops, gate, producer, _ = parts
    producer.stop()
    loops.stop()
    gate.stop()
    producer.vec_env.close()
    served.close()
    store.close()


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_rejections_never_stop_learning_and_the_learner_restarts_from_the_served_weights(tmp_path):
    """Before the gate re-based the learner, a rejection left every new turn (sampled by the served v0) more
    than max_staleness steps behind the learner: it stopped at step max_staleness + 1 for good."""
    lr = 1e-3
    # binary suite, no margin: a candidate that wins no episode is never shown non-inferior, so all are rejected
    parts = _learning(tmp_path, {"metric": "success", "delta": 0.0, "every": 2}, max_staleness=2, lr=lr)
    served, store, learner, loops, gate, producer, snapshots = parts
    gate.start()
    assert gate.wait_idle()
    loops.start()
    producer.start()
    try:
        _run(parts, 12)  # ≫ max_staleness + every: the learner kept stepping through the rejections
        assert gate.wait_idle(60)
    finally:
        _close(parts)
    decisions = gate.store.decisions()
    rebases = [d for d in decisions if d["decision"] == "rebased"]
    assert gate.counts["rejected"] >= 3 and len(rebases) == gate.counts["rejected"], gate.counts
    assert served.version == 0 and gate.counts["published"] == 0
    assert loops.stats["trained"] >= 12 * 4
    base, checked, further, previous = snapshots[0], 0, 0, 0
    for r in rebases:  # the step right after a rebase is one Adam step (|update| ≤ lr) from the served weights
        s = r["learner_step"]
        if s + 1 in snapshots:
            assert _max_diff(snapshots[s + 1], base) <= lr * 1.001, s
            checked += 1
        if s - previous >= 2:  # what it was re-based from, ≥ 2 steps past the last rebase: further away
            assert _max_diff(snapshots[s], base) > lr * 1.5, s
            further += 1
        previous = s
    assert checked >= 2 and further >= 1, [r["learner_step"] for r in rebases]


def test_learning_goes_on_after_a_rollback_from_the_rolled_back_weights(tmp_path):
    lr = 1e-3
    parts = _learning(tmp_path, {"delta": 100.0, "max_drift_kl": 0.0, "every": 1}, max_staleness=2, lr=lr)
    served, store, learner, loops, gate, producer, snapshots = parts
    gate.start()
    assert gate.wait_idle()
    loops.start()
    producer.start()
    try:
        _run(parts, 5)
        assert gate.wait_idle(60)
        while served.version < 3:
            threading.Event().wait(0.1)
        gate.rollback(0)
        at = gate.rebased_at
        assert at >= 3 and served.version == 0
        _run(parts, at + 6)
        assert gate.wait_idle(60)
    finally:
        _close(parts)
    assert _max_diff(snapshots[at + 1], snapshots[0]) <= lr * 1.001  # descends from v0, not from v{at}
    after = [d for d in gate.store.decisions() if d["decision"] == "published" and d["version"] > at]
    assert after and served.version > at  # published again after the rollback, from the rolled-back lineage


def test_every_beyond_max_staleness_is_refused_when_the_learner_is_attached(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--judge.backend", "rules", "--method.loss", "binary_rl", "--train.output_dir",
                             str(tmp_path / "run"), "--gate.enabled", "true", "--gate.suite", json.dumps(SUITE),
                             "--gate.every", "5"])
    with pytest.raises(ConfigError, match="gate.every=5 exceeds the learner's max_staleness=4"):
        ServeStack(cfg, learn=True, max_staleness=4)


def test_a_restart_after_rejections_resumes_learning_from_the_served_weights(tmp_path):
    """The learner checkpoint and the gate's index survive a restart: the restarted gate serves the indexed
    version and re-bases the resumed learner on it, so turns of the served version are fresh again."""
    cfg = {"metric": "success", "delta": 0.0, "every": 2}
    parts = _learning(tmp_path, cfg, max_staleness=2)
    served, store, learner, loops, gate, producer, _ = parts
    gate.start()
    assert gate.wait_idle()
    loops.start()
    producer.start()
    try:
        _run(parts, 6)
    finally:
        _close(parts)
    stopped_at = learner.step

    parts = _learning(tmp_path, cfg, max_staleness=2)  # same folder: learner.pt, turns.sqlite, versions/
    served, store, learner, loops, gate, producer, snapshots = parts
    assert learner.step == stopped_at and served.version == stopped_at  # the loops re-published the checkpoint
    gate.start()
    assert served.version == 0 and gate.rebased_at == stopped_at  # the index's version, and the learner on it
    assert _max_diff(learner.state_dict(), gate.store.load(0)) == 0.0
    loops.start()
    producer.start()
    try:
        _run(parts, stopped_at + 6)
    finally:
        _close(parts)
    assert [d["decision"] for d in gate.store.decisions()].count("restored") == 1


def test_a_lora_learner_is_rebased_exactly_and_its_base_never_moves(tmp_path):
    from peft import LoraConfig

    from claw_trainer.config import MethodConfig
    from claw_trainer.learner import Learner
    from claw_trainer.models import load_model

    torch.manual_seed(0)
    model, tok = load_model("tiny", cache_dir=tmp_path / "cache")
    learner = Learner(model, tok, MethodConfig(loss="binary_rl"), lr=1e-2,
                      peft_config=LoraConfig(r=4, lora_alpha=16, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    frozen = {k: v.clone() for k, v in learner.model.get_base_model().state_dict().items() if "lora_" not in k}
    zero = learner.state_dict()  # B = 0: the base itself
    lora = [p for n, p in learner.model.named_parameters() if "lora_" in n]

    def perturb(seed):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in lora:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        return learner.state_dict()

    served = perturb(1)
    perturb(2)
    assert _max_diff(learner.state_dict(), served) > 1e-3
    learner.rebase(served, 3)
    assert _max_diff(learner.state_dict(), served) < 1e-5 and learner.rebased_onto == (3, 0)
    learner.rebase(zero, 0)  # back to the base: B = 0, A keeps its rows (so B still gets a gradient)
    assert _max_diff(learner.state_dict(), zero) < 1e-6
    assert all(float(p.detach().abs().sum()) > 0 for n, p in learner.model.named_parameters() if "lora_A" in n)
    base_now = learner.model.get_base_model().state_dict()
    assert all(torch.equal(v, base_now[k]) for k, v in frozen.items())  # bit-identical
    bad = dict(served)
    key = next(k for k in bad if k.endswith("mlp.up_proj.weight"))
    bad[key] = bad[key] + 1.0  # not reachable by the adapter
    with pytest.raises(ConfigError, match="differs from the frozen base outside the adapters"):
        learner.rebase(bad, 4)
