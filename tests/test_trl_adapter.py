"""The TRL adapter trains for real: TRL's GRPOTrainer(environment_factory=...) on claw/ToolCall-v0, CPU."""

import inspect

import pytest

from tests.conftest import needs_local

trl = pytest.importorskip("trl", reason="the [train] extra (trl, transformers) is not installed")
pytestmark = needs_local


def test_environment_class_exposes_tools_with_schemas():
    from transformers.utils import get_json_schema

    from claw_envs.adapters.trl import environment_factory

    env = environment_factory("claw/ToolCall-v0", tasks="generated", difficulty=1)()
    names = {n for n, _ in inspect.getmembers(type(env), inspect.isfunction) if not n.startswith("_")}
    assert names == {"reset", "get_reward", "python", "final_answer"}  # the tools generated tasks offer
    schema = get_json_schema(type(env).python)["function"]
    assert schema["name"] == "python" and schema["parameters"]["required"] == ["code"]
    prompt = env.reset(seed=3)
    assert "python" in prompt
    assert env.python(code="print(6 * 7)") == "42"
    assert env.final_answer(answer=env._env.task.answer) == "answer recorded" and env.get_reward() == 1.0
    env.reset(seed=4)
    assert env.get_reward() == -1.0  # stopped without an answer
    term = environment_factory("claw/Terminal-v0")()
    term.reset(task_id="count-error-lines")
    assert "server.log" in term.bash(command="ls /app")
    assert term.get_reward() == 0.0  # submit runs the tests: nothing was done


CALL = '<tool_call>\n{"name": "python", "arguments": {"code": "print(6 * 7)"}}\n</tool_call>'
BOXED = "The answer is \\boxed{12}."


def _warm_up(model, tok, factory, steps: int = 40):
    """Give the random tiny model a habit: answer with a tool call about 2/3 of the time, else a boxed guess.

    The two replies are single added tokens, so a few SFT steps on prompts rendered as TRL renders them
    suffice; without this every rollout of a random model scores the same and GRPO has nothing to learn from.
    """
    import torch

    env = factory()
    tools = [getattr(env, n) for n, _ in inspect.getmembers(type(env), inspect.isfunction)
             if n not in ("reset", "get_reward") and not n.startswith("_")]
    targets = [tok(t, add_special_tokens=False)["input_ids"] for t in (CALL, BOXED)]
    assert all(len(t) == 1 for t in targets), targets
    targets = [t[0] for t in targets]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for i in range(steps):
        prompt = tok.apply_chat_template([{"role": "user", "content": env.reset(seed=i % 16)}], tools=tools,
                                         tokenize=False, add_generation_prompt=True)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        t_ids = [targets[int(i % 3 == 2)], tok.eos_token_id]
        loss = model(input_ids=torch.tensor([p_ids + t_ids]),
                     labels=torch.tensor([[-100] * len(p_ids) + t_ids])).loss
        loss.backward()
        opt.step()
        opt.zero_grad()


def test_grpo_trainer_trains_a_tiny_model_on_toolcall(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from claw_envs.adapters.trl import environment_factory
    from claw_trainer.tiny import build_tiny_model

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    path = build_tiny_model(tmp_path / "tiny")
    tok = AutoTokenizer.from_pretrained(path)
    tok.add_tokens([CALL, BOXED])
    model = AutoModelForCausalLM.from_pretrained(path)
    model.resize_token_embeddings(len(tok))
    args = GRPOConfig(output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=40, learning_rate=1e-2, logging_steps=1,
                      report_to=[], use_cpu=True, save_strategy="no", temperature=1.0, seed=0,
                      max_tool_calling_iterations=2, dataloader_num_workers=0)
    # shaping: a wrong answer after more tool calls scores higher, so rollouts differ and advantages are non-zero
    factory = environment_factory("claw/ToolCall-v0", tasks="generated", difficulty=1, shaping=True)
    _warm_up(model, tok, factory)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = GRPOTrainer(model=model, processing_class=tok, args=args, environment_factory=factory)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3 and all("reward" in h for h in logs)
    rewards = [h["reward"] for h in logs]
    # TRL logs float32 means: four wrong answers without a tool call (-1.1 each) log as -1.1000000238
    assert all(-1.1 - 1e-6 <= r <= 1.0 + 1e-6 for r in rewards), rewards
    assert any(h["tools/call_frequency"] > 0 for h in logs), "the model never called a claw tool"
    changed = sum(not torch.equal(before[n], p) for n, p in model.named_parameters())
    assert changed > 0, "no parameter changed: the trainer did not update the model"
    # every rollout of every step went through a claw env and was scored by it
    pool = trainer._environment_pool[None]
    assert len(pool) >= 4 and all(e._done for e in pool)
