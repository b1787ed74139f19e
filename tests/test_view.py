"""`claw view` over real runs: a trainer journal with a token log and gate decisions, a serve store, and a GUI
rollout recorded by `claw rollout --record`; its JSON API over HTTP and the page in real Chromium."""

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the [train] extra is not installed")

import torch  # noqa: E402

from claw_trainer.view.tokens import TokenLog, turn_key  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "img"  # CLAW_UPDATE_DOCS=1 refreshes the README's images
HINT = "Reply with digits only, like 4 8 15 16."


def _logprobs(model, turn):
    ids = torch.tensor([list(turn.prompt_ids) + list(turn.completion_ids)])
    logp = model(ids).logits[0, len(turn.prompt_ids) - 1:-1].float().log_softmax(-1)
    return logp.gather(-1, torch.tensor(turn.completion_ids)[:, None])[:, 0]


def _teacher_logprobs(model, tok, turn, hint):
    """log π(token) of the turn's completion with the hint appended to the last user message (OPD's teacher)."""
    from claw_trainer.policy.hf import chat_prompt_ids

    msgs = [dict(m) for m in turn.messages]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    msgs[last]["content"] = f"{msgs[last]['content']}\n\n[hint] {hint}"
    prompt = chat_prompt_ids(tok, msgs)
    ids = torch.tensor([prompt + list(turn.completion_ids)])
    with torch.no_grad():
        logp = model(ids).logits[0, len(prompt) - 1:-1].float().log_softmax(-1)
    return logp.gather(-1, torch.tensor(turn.completion_ids)[:, None])[:, 0]


def _digits_env():
    from claw_trainer.toy import DigitsEnv

    return DigitsEnv(hint=HINT)  # a hint source that knows the target: every turn gets the OPD term


def _train_run(root: Path, cache: Path) -> Path:
    """A run folder as a trainer leaves it: turns.sqlite (its queue of kept samples, trained by step),
    metrics.jsonl, tokens.jsonl, gate decisions."""
    from claw_envs.vector import ClawVectorEnv
    from claw_trainer.buffer import RolloutBuffer
    from claw_trainer.credit import score_episodes
    from claw_trainer.gate import GateConfig, PublishGate
    from claw_trainer.models import load_model
    from claw_trainer.policy.hf import HFPolicy
    from claw_trainer.rollout import collect_episodes
    from claw_trainer.serving.policy import ServedPolicy

    run = root / "digits-combine"
    run.mkdir(parents=True)
    model, tok = load_model("tiny", cache_dir=cache)
    (run / "config.json").write_text(json.dumps({"model": {"name": "tiny", "cache_dir": str(cache)},
                                                 "env": {"id": "claw_trainer.toy:DigitsEnv"}}))
    torch.manual_seed(0)
    vec = ClawVectorEnv([_digits_env] * 4)
    policy = HFPolicy(model, tok, 10, 1.0)
    buffer, log = RolloutBuffer(run / "turns.sqlite"), TokenLog(run / "tokens.jsonl")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    try:
        for step in range(1, 3):
            episodes = collect_episodes(vec, policy, [step] * 4, "claw_trainer.toy:DigitsEnv", first_episode=4 * step)
            samples, counts = score_episodes(episodes, "combine")
            buffer.add(samples, f"round-{step}")
            assert len(buffer.take(len(samples))) == len(samples)
            rows_adv, rows_opd, mask = [], [], []
            width = max(len(s.turn.completion_ids) for s in samples)
            for s in samples:
                n = len(s.turn.completion_ids)
                opd = _teacher_logprobs(model, tok, s.turn, s.turn.hint) - torch.tensor(s.turn.logprobs)
                adv = opd * s.has_hint + s.a_rl * s.has_score
                rows_adv.append(torch.nn.functional.pad(adv, (0, width - n)))
                rows_opd.append(torch.nn.functional.pad(opd, (0, width - n)))
                mask.append([1.0] * n + [0.0] * (width - n))
            log.write_batch([s.turn for s in samples], step, [s.a_rl for s in samples], torch.stack(rows_adv),
                            mask, torch.stack(rows_opd), [s.has_hint for s in samples])
            loss = torch.stack([-s.a_rl * _logprobs(model, s.turn).mean() for s in samples]).mean()  # REINFORCE
            opt.zero_grad()
            loss.backward()
            opt.step()
            buffer.mark_trained(step)
            reward = sum(t.reward for ep in episodes for t in ep) / counts["turns"]
            with (run / "metrics.jsonl").open("a") as fh:
                fh.write(json.dumps({"step": step, "reward": reward, "policy_loss": loss.item(),
                                     "turns_turns": counts["turns"], "turns_kept": counts["kept"]}) + "\n")
    finally:
        vec.close()
        buffer.close()
        log.close()
    served = ServedPolicy(load_model("tiny", cache_dir=cache)[0], tok, 8, 0.0)
    gate = PublishGate(served, GateConfig(suite={"env": "claw_trainer.toy:DigitsEnv", "episodes": 2}, delta=100.0),
                       run / "versions").start()
    gate.publish({k: v.detach().clone() for k, v in model.state_dict().items()}, 2)
    assert gate.wait_idle()
    gate.stop()
    served.close()
    return run


def _serve_store(root: Path, train: Path) -> Path:
    """A serve store (turns.sqlite) holding the training run's turns with store statuses and judgements."""
    from claw_trainer.rollout import Turn
    from claw_trainer.store import TurnStore, read_turns

    run = root / "serve-store"
    store = TurnStore(run / "turns.sqlite")
    for i, row in enumerate(read_turns(train)):
        turn = Turn.from_json(row["turn"])
        tid = store.record(turn, f"s{i % 2}", "main", "recorded")
        if i % 3 == 2:
            store.mark([tid], "dropped", reason="no signal")
            continue
        assert store.claim(tid)
        store.set_judged(tid, {"process": 1.0 if i % 2 else -1.0, "hint": None})
        if i % 2:
            store.mark([tid], "trained", step=1)
    store.close()
    shutil.copy(train / "tokens.jsonl", run / "tokens.jsonl")  # the learner logs next to its store
    return run


def _gui_run(root: Path, cache: Path) -> Path | None:
    """`claw rollout --record` on GUI-v0 with the tiny model (real desktop); None where no desktop runs here."""
    from tests.test_gui import _REASON

    if _REASON:
        return None
    from claw_trainer.cli import main

    run = root / "gui-rollout"
    assert main(["rollout", "--model.name", "tiny", "--model.cache_dir", str(cache), "--env.id", "claw/GUI-v0",
                 "--env.num_envs", "1", "--env.group_size", "1",
                 "--env.kwargs", "{task_ids: [term-make-note], max_steps: 2}", "--train.max_new_tokens", "8",
                 "--episodes", "1", "--out", str(run / "turns.jsonl"), "--record", str(run / "record")]) == 0
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    train = _train_run(root, cache)
    _serve_store(root, train)
    gui = _gui_run(root, cache)
    return root, gui


@pytest.fixture(scope="module")
def server(runs):
    from claw_trainer.view.runs import discover
    from claw_trainer.view.server import ViewServer

    root, _ = runs
    with ViewServer(discover([root])) as s:
        yield s


def _get(server, path):
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_token_log_round_trip_and_torn_tail(tmp_path):
    p = tmp_path / "tokens.jsonl"
    with TokenLog(p) as log:
        log.write({"turn_key": "k1", "step": 1, "completion_ids": [5, 6], "a_rl": 0.5, "opd": [0.1, -0.2],
                   "adv": [0.6, 0.3], "version": 0})
        with pytest.raises(ValueError, match="adv has 1 values for 2"):
            log.write({"turn_key": "k", "step": 1, "completion_ids": [5, 6], "a_rl": 0, "adv": [1], "version": 0})
        with pytest.raises(ValueError, match="lacks"):
            log.write({"turn_key": "k"})
    with p.open("a") as fh:
        fh.write('{"turn_key": "k2", "st')  # a writer killed mid-line
    rows = list(TokenLog(p).read())
    assert rows == [{"turn_key": "k1", "step": 1, "completion_ids": [5, 6], "a_rl": 0.5, "opd": [0.1, -0.2],
                     "adv": [0.6, 0.3], "version": 0}]
    assert turn_key({"prompt_ids": [1], "completion_ids": [2]}) != turn_key({"prompt_ids": [1], "completion_ids": [3]})


def test_api_lists_runs_filters_turns_and_joins_the_token_log(server, runs):
    root, gui = runs
    code, listing = _get(server, "/api/runs")
    names = {r["name"]: r for r in listing}
    assert code == 200 and {"digits-combine", "serve-store"} <= set(names)
    train = names["digits-combine"]
    assert train["token_log"] and train["turns"] > 0 and train["steps"] == 2 and train["gate_decisions"] == 2

    _, all_turns = _get(server, "/api/turns?run=digits-combine")
    assert all_turns["total"] == train["turns"] and all(t["status"] == "trained" for t in all_turns["turns"])
    assert {t["train_step"] for t in all_turns["turns"]} == {1, 2} and all(t["a_rl"] is not None
                                                                            for t in all_turns["turns"])
    assert _get(server, "/api/turns?run=digits-combine&status=kept")[1]["total"] == train["turns"]
    assert all(t["vote"] is None for t in all_turns["turns"])  # no judge ran: the env's outcome is the score
    assert _get(server, "/api/turns?run=digits-combine&vote=none")[1]["total"] == train["turns"]
    assert _get(server, "/api/turns?run=digits-combine&vote=1")[1]["total"] == 0
    _, high = _get(server, "/api/turns?run=digits-combine&min_reward=0.5")
    assert all(t["reward"] >= 0.5 for t in high["turns"])
    assert _get(server, "/api/turns?run=digits-combine&vote=7")[0] == 400
    assert _get(server, "/api/turns?run=nope")[0] == 404

    code, turn = _get(server, f"/api/turn?run=digits-combine&id={all_turns['turns'][0]['id']}")
    assert code == 200 and turn["logged"] and turn["decoded"] and turn["hint"] == HINT
    assert turn["messages"][0]["content"] == "Reply with digits only." and turn["next_state"]["text"].startswith("score")
    assert len(turn["tokens"]) == turn["n_tokens"] and all(t["adv"] is not None for t in turn["tokens"])
    assert "".join(t["text"] for t in turn["tokens"]).strip() == turn["action"].strip()
    assert any(t["opd"] not in (None, 0.0) for t in turn["tokens"])

    _, store = _get(server, "/api/run?run=serve-store")
    assert store["statuses"].keys() >= {"dropped", "trained", "judged"}
    _, dropped = _get(server, "/api/turns?run=serve-store&status=dropped")
    _, kept = _get(server, "/api/turns?run=serve-store&status=kept")
    assert dropped["total"] + kept["total"] == store["turns"] and dropped["turns"][0]["reason"] == "no signal"
    _, trained = _get(server, "/api/turns?run=serve-store&train_step=1")
    assert trained["total"] > 0 and all(t["status"] == "trained" and t["vote"] == 1 for t in trained["turns"])
    _, down = _get(server, "/api/turns?run=serve-store&vote=-1")
    assert down["total"] > 0 and all(t["vote"] == -1 and t["status"] == "judged" for t in down["turns"])
    _, same = _get(server, f"/api/turn?run=serve-store&id={trained['turns'][0]['id']}")
    assert same["logged"]  # the store's copy of a trained turn finds the trainer's token record by its key

    _, run = _get(server, "/api/run?run=digits-combine")
    assert [g["decision"] for g in run["gate"]] == ["baseline", "published"] and run["metrics"][0]["step"] == 1
    if gui is not None:
        _, g = _get(server, "/api/turns?run=gui-rollout&gui=1")
        assert g["total"] >= 1
        with urllib.request.urlopen(f"{server.url}api/screenshot?run=gui-rollout&id={g['turns'][0]['id']}") as r:
            assert r.headers["Content-Type"] == "image/png" and r.read()[:4] == b"\x89PNG"


def _chromium_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the [gui] extra)"
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        return "Debian's chromium is not installed (scripts/setup.sh installs it)"
    return None


@pytest.fixture
def shots(tmp_path):
    return DOCS if os.environ.get("CLAW_UPDATE_DOCS") == "1" else tmp_path


def test_page_in_chromium_shows_runs_coloured_tokens_and_a_gui_screenshot(server, runs, shots):
    reason = _chromium_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    _, gui = runs
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "#run=digits-combine")
        page.wait_for_selector("#runs li.run")
        names = page.locator("#runs li.run").evaluate_all("els => els.map(e => e.dataset.run)")
        assert {"digits-combine", "serve-store"} <= set(names)
        page.wait_for_selector("#gate .gate-row")
        assert page.locator("#gate .gate-row").count() == 2
        page.locator("#turns tbody[data-run='digits-combine'] tr.turn").first.click()
        page.wait_for_selector("#tokens .tok")
        colours = page.locator("#tokens .tok").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
        assert any("rgba(30, 160, 80" in c for c in colours) or any("rgba(210, 40, 30" in c for c in colours), colours
        assert len({c for c in colours}) > 1  # coloured by each token's own advantage
        assert HINT in page.locator("#detail").inner_text()
        page.screenshot(path=str(shots / "view-tokens.png"), full_page=True)

        page.locator("#runs li.run[data-run='serve-store']").click()
        page.wait_for_selector("#turns tbody[data-run='serve-store'] tr.turn")
        page.select_option("#f-status", "dropped")
        page.wait_for_function("document.querySelectorAll('#turns tr.turn').length > 0 && "
                               "[...document.querySelectorAll('#turns tr.turn td:last-child')].every("
                               "td => td.textContent.startsWith('dropped'))")
        page.screenshot(path=str(shots / "view-store.png"), full_page=True)
        if gui is not None:
            page.select_option("#f-status", "")
            page.locator("#runs li.run[data-run='gui-rollout']").click()
            page.locator("#turns tbody[data-run='gui-rollout'] tr.turn").first.click()
            page.wait_for_selector("#shot img.after")
            page.wait_for_function("[...document.querySelectorAll('#shot img')].every(i => i.complete && "
                                   "i.naturalWidth > 0)")
            assert page.evaluate("document.querySelector('#shot img.after').naturalWidth") >= 640
            page.screenshot(path=str(shots / "view-gui.png"), full_page=True)
        browser.close()
    assert not errors, errors
    assert (shots / "view-tokens.png").stat().st_size > 10_000
    if gui is None:
        pytest.skip("GUI desktop unavailable: the run list and coloured tokens were checked, the screenshot was not")


def test_claw_view_cli_errors(tmp_path):
    from claw_trainer.cli import main

    assert main(["view", str(tmp_path / "missing")]) == 2
    assert main(["view", str(tmp_path)]) == 2  # an empty folder holds no run


def test_viewer_reads_a_live_store_while_it_grows(tmp_path, runs):
    """A page open on a live `claw serve` store sees new turns on its next request (no restart)."""
    from claw_trainer.rollout import Turn
    from claw_trainer.store import TurnStore, read_turns
    from claw_trainer.view.runs import Run

    root, _ = runs
    src = root / "serve-store" / "turns.sqlite"
    store = TurnStore(tmp_path / "live" / "turns.sqlite")
    run = Run(tmp_path / "live")
    assert run.turns() == []
    first = read_turns(root / "digits-combine")[0]["turn"]
    done = threading.Event()

    def writer():
        for _ in range(3):
            store.record(Turn.from_json(first), "live", "main", "recorded")
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(30)
    assert len(run.turns()) == 3 and src.exists()
    store.close()


def test_an_old_run_folders_turns_jsonl_journal_is_still_shown(tmp_path, runs):
    """Backward compatibility: a run folder from before the one turn store (a turns.jsonl journal of kept
    samples, no turns.sqlite) still lists its turns, as ``kept``."""
    from claw_trainer.store import read_turns
    from claw_trainer.view.runs import Run

    root, _ = runs
    old = tmp_path / "old-run"
    old.mkdir()
    rows = read_turns(root / "digits-combine")[:3]
    (old / "turns.jsonl").write_text("".join(json.dumps({"turn": r["turn"], **r["credit"]}) + "\n" for r in rows))
    turns = Run(old).turns()
    assert len(turns) == 3 and all(t["status"] == "kept" for t in turns)
    assert [t["a_rl"] for t in turns] == [r["credit"]["a_rl"] for r in rows]
