"""One Sample contract: every sampler records its distribution (temperature, top_p, top_k, engine), and the
learner re-scores π_old whenever that differs from its own, so the first update's importance ratio is 1."""

import time

import pytest

openai = pytest.importorskip("openai", reason="the openai SDK is not installed (the [dev] extra)")
pytest.importorskip("trl", reason="the [train] extra is not installed")

from claw_trainer.config import load_config  # noqa: E402
from claw_trainer.store import TurnStore  # noqa: E402

REPLIES = ["thanks, perfect", "that's wrong, try again", "great, works", "no, that is not what I asked"]


def test_a_client_at_temperature_0_3_top_p_0_8_gets_ratio_one_on_the_first_update(tmp_path):
    from claw_trainer.serving.stack import ServeStack

    cfg = load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                             "--judge.backend", "rules", "--judge.m", "1", "--method.loss", "binary_rl",
                             "--train.batch_size", "8", "--train.micro_batch_size", "4", "--train.max_new_tokens",
                             "24", "--train.output_dir", str(tmp_path / "run")])
    with ServeStack(cfg, learn=True, max_steps=1) as stack:
        client = openai.OpenAI(base_url=stack.base_url, api_key="none", max_retries=0, timeout=120)
        for k in range(4):
            history = [{"role": "user", "content": f"question {k}: what is {k} + {k}?"}]
            for reply in [REPLIES[k % 4], REPLIES[(k + 1) % 4], None]:
                r = client.chat.completions.create(model="tiny", messages=history, temperature=0.3, top_p=0.8,
                                                   extra_headers={"X-Session-Id": f"t{k}"})
                history.append({"role": "assistant", "content": r.choices[0].message.content or ""})
                if reply:
                    history.append({"role": "user", "content": reply})
        assert stack.loops.wait_steps(1, timeout=240), stack.loops.health_snapshot()
        first = stack.loops.history[0]
        time.sleep(0.1)
    store = TurnStore(tmp_path / "run" / "turns.sqlite")
    rows = [store.row(i)["turn"] for i in store.ids("trained")]
    store.close()
    assert len(rows) == 8 and all((t["temperature"], t["top_p"], t["top_k"], t["engine"]) == (0.3, 0.8, 0, "hf")
                                  for t in rows)
    # the sampler's log-probs (T = 0.3, top-p 0.8) are far from the learner's (T = 1): ratios against them would
    # be far from 1, so π_old had to be re-scored
    assert first["old_rescored"] == 1.0 and abs(first["approx_kl_to_sampler"]) > 0.5, first
    assert abs(first["ratio_mean"] - 1.0) < 0.02 and first["clip_frac"] < 0.01, first


def test_samples_carry_their_sampling_parameters_and_mismatch_is_detected(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.core import sampled_like_learner
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "m")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    obs = [[{"role": "user", "content": "hi"}]]
    own = HFPolicy(model, tok, max_new_tokens=4, temperature=1.0).sample(obs)[0]
    cold = HFPolicy(model, tok, max_new_tokens=4, temperature=0.3, top_p=0.8).sample(obs)[0]
    greedy = HFPolicy(model, tok, max_new_tokens=4, temperature=0.0).sample(obs)[0]
    assert (own.temperature, own.top_p, own.top_k, own.engine) == (1.0, 1.0, 0, "hf")
    assert (cold.temperature, cold.top_p) == (0.3, 0.8) and greedy.temperature == 0.0
    assert sampled_like_learner(own, 1.0)
    assert not sampled_like_learner(cold, 1.0) and not sampled_like_learner(greedy, 1.0)
    assert not sampled_like_learner(own, 0.7)  # the learner trains at another temperature
    from dataclasses import replace

    assert not sampled_like_learner(replace(own, engine="vllm"), 1.0)


def test_serve_model_is_the_trainers_generator_every_eos_stops_and_the_stop_token_is_kept(tmp_path):
    import httpx
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.serve_model import ModelServer
    from claw_trainer.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "m")
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    obs = [{"role": "user", "content": "what is 2+2?"}]
    first = HFPolicy(model, tok, max_new_tokens=1, temperature=0.0).sample([obs])[0].completion_ids[0]
    assert first != tok.eos_token_id
    # a model with two end-of-sequence ids (like Qwen's <|im_end|> and <|endoftext|>); the tokenizer knows one
    model.generation_config.eos_token_id = [tok.eos_token_id, first]
    with ModelServer(model, tok) as server:
        body = httpx.post(server.base_url + "/chat/completions", timeout=60,
                          json={"messages": obs, "temperature": 0, "max_tokens": 8, "logprobs": True,
                                "top_logprobs": 2}).json()
    choice = body["choices"][0]
    assert choice["token_ids"] == [first] and choice["finish_reason"] == "stop"  # stopped, stop token kept
    assert len(choice["logprobs"]["content"]) == 1 and len(choice["logprobs"]["content"][0]["top_logprobs"]) == 2
    assert body["sampling"] == {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "engine": "hf"}
    assert HFPolicy(model, tok, max_new_tokens=8, temperature=0.0).sample([obs])[0].completion_ids == (first,)
