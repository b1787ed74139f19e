"""Durability of the live path: one writer per turn store, durable learner checkpoints, counters that survive a
restart, a failed save that never retrains a batch, late replies that still become next states, and the sync
driver's queue in the same store: resuming from a checkpoint trains every sample once, none twice, none lost."""

import pickle
import time

import pytest
import torch

pytest.importorskip("trl", reason="the [train] extra is not installed")

from claw_envs.core.errors import ConfigError  # noqa: E402
from claw_envs.core.nextstate import NextState  # noqa: E402
from claw_trainer.config import MethodConfig, load_config  # noqa: E402
from claw_trainer.rollout import Turn  # noqa: E402
from claw_trainer.store import TurnStore, read_turns  # noqa: E402


def _turn(vote_text="thanks"):
    return Turn((1, 2), (5, 6), (-0.5, -0.5), 0, "claw/serve", None, 0, 0, "a",
                NextState(role="user", kind="chat", text=vote_text))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from claw_trainer.models import load_model

    return load_model("tiny", cache_dir=tmp_path_factory.mktemp("cache"))


def test_one_writer_per_store_and_only_the_writer_returns_judging_turns(tmp_path):
    path = tmp_path / "turns.sqlite"
    writer = TurnStore(path)
    i = writer.record(_turn())
    assert writer.claim(i)  # being judged by the live writer
    with pytest.raises(ConfigError, match="already open for writing"):
        TurnStore(path)
    reader = TurnStore(path, readonly=True)  # a reader changes nothing: the live judge keeps its turn
    assert reader.counts() == {"judging": 1} and writer.counts() == {"judging": 1}
    reader.close()
    writer.close()  # the writer went away mid-judging (as after a kill -9: the OS drops the lock)
    again = TurnStore(path)
    assert again.counts() == {"recorded": 1}  # judged again by the new writer
    again.close()


def test_learner_checkpoints_are_tensors_only_and_round_trip(tmp_path, tiny):
    from claw_trainer.learner import Learner

    learner = Learner(*tiny, MethodConfig(loss="binary_rl"))
    learner.step = 7
    learner.save(tmp_path / "learner.pt", [3, 4])
    assert not (tmp_path / "learner.tmp").exists()
    other = Learner(*tiny, MethodConfig(loss="binary_rl"))
    assert other.load(tmp_path / "learner.pt") == [3, 4] and other.step == 7

    class Payload:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"model": {}, "step": 1, "batch_ids": [], "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        other.load(tmp_path / "evil.pt")  # weights_only=True: no pickled code is run


def test_a_failed_checkpoint_save_never_retrains_the_batch(tmp_path, tiny):
    from claw_trainer.async_loops import AsyncLoops
    from claw_trainer.learner import Learner

    (tmp_path / "not-a-dir").write_text("")  # the checkpoint's folder is a file: every save fails
    store = TurnStore(tmp_path / "turns.sqlite")
    learner = Learner(*tiny, MethodConfig(loss="binary_rl"), lr=1e-3)
    loops = AsyncLoops(store, _NoServe(), learner, batch_size=2, checkpoint=tmp_path / "not-a-dir" / "learner.pt")
    ids = [store.record(_turn()) for _ in range(2)]
    for i in ids:
        assert store.claim(i)
        store.set_judged(i, {"process": 1.0, "hint": None})
    assert loops.train_once() and learner.step == 1
    assert loops.health_snapshot()["train"]["errors"] == 1 and loops.stats["save_errors"] == 1
    assert store.counts() == {"trained": 2}  # marked trained: the weights did step on them
    assert not loops.train_once() and learner.step == 1  # ... and they are never trained again
    store.close()


class _NoServe:
    """A served policy that is not serving (this test only trains): publishes are counted."""

    version = 0

    def publish(self, state, version):
        self.version = version


def test_the_producers_round_and_episode_counters_survive_a_restart(tmp_path, tiny):
    from claw_envs.vector import ClawVectorEnv
    from claw_trainer.env_producer import EnvProducer
    from claw_trainer.serving.policy import ServedPolicy
    from claw_trainer.toy import DigitsEnv

    model, tok = tiny
    served = ServedPolicy(model, tok, max_new_tokens=3)
    vec = ClawVectorEnv([DigitsEnv for _ in range(4)])
    try:
        store = TurnStore(tmp_path / "turns.sqlite")
        EnvProducer(vec, served, store, lambda i: None, group_size=2, env_id="toy").round()
        store.close()
        store = TurnStore(tmp_path / "turns.sqlite")  # a restarted producer
        producer = EnvProducer(vec, served, store, lambda i: None, group_size=2, env_id="toy")
        assert (producer.rounds, producer.episodes) == (1, 4)
        producer.round()
        rows = [store.row(i) for i in range(1, 9)]
        store.close()
    finally:
        vec.close()
        served.close()
    assert [r["turn"]["episode"] for r in rows] == list(range(8))  # no episode number reused
    assert [r["grp"] for r in rows] == ["round-0"] * 4 + ["round-1"] * 4 and {r["grp_turns"] for r in rows} == {4}


def _cfg(tmp_path, *extra):
    return load_config(None, ["--model.name", "tiny", "--model.cache_dir", str(tmp_path / "cache"),
                              "--judge.backend", "rules", "--judge.m", "1", "--train.batch_size", "8",
                              "--train.max_new_tokens", "4", "--train.output_dir", str(tmp_path / "run"), *extra])


def test_awaiting_turns_are_kept_for_days_and_a_late_reply_still_becomes_the_next_state(tmp_path):
    import httpx

    from claw_trainer.serving.stack import ServeStack

    with ServeStack(_cfg(tmp_path), learn=True) as stack:
        assert stack.recorder.idle_timeout == 7 * 86400  # the default retention: a week
    with ServeStack(_cfg(tmp_path), learn=True, idle_timeout=0.4) as stack, httpx.Client(timeout=60) as client:
        h = [{"role": "user", "content": "what is 2+2?"}]
        r = client.post(stack.base_url + "/chat/completions", json={"messages": h}, headers={"X-Session-Id": "late"})
        turn_id = max(stack.store.ids("awaiting_next_state"))
        deadline = time.monotonic() + 60
        while stack.store.row(turn_id)["status"] != "dropped":  # closed by the sweep, then dropped: no next state
            assert time.monotonic() < deadline, stack.store.row(turn_id)
            time.sleep(0.1)
        assert stack.store.row(turn_id)["reason"] == "no next state"
        h += [r.json()["choices"][0]["message"], {"role": "user", "content": "thanks, perfect"}]
        client.post(stack.base_url + "/chat/completions", json={"messages": h}, headers={"X-Session-Id": "late"})
        while (row := stack.store.row(turn_id))["status"] != "judged":
            assert time.monotonic() < deadline, row
            time.sleep(0.1)
    assert row["turn"]["next_state"]["text"] == "thanks, perfect" and row["judgement"]["process"] == 1.0
    assert row["turn"]["done"] is False


def _samples(n, first_episode):
    from claw_trainer.credit import TrainSample

    out = []
    for k in range(n):
        t = _turn()
        t.episode, t.task_id = first_episode + k, f"task-{first_episode + k}"
        out.append(TrainSample(t, 1.0 if k % 2 else -1.0, True, False))
    return out


def test_sync_queue_resume_trains_samples_collected_after_the_checkpoint_once(tmp_path):
    """The sync driver's queue (RolloutBuffer over turns.sqlite) through a kill after the last checkpoint:
    resuming re-queues what was trained after it (those weights were lost) plus everything collected since,
    oldest first; in the end every kept sample is trained exactly once, by the surviving history of steps."""
    from claw_trainer.buffer import RolloutBuffer

    path = tmp_path / "run" / "turns.sqlite"
    q = RolloutBuffer(path)
    q.add(_samples(6, 0), "round-0", {"rounds": 1})
    assert len(q) == 6 and [s.turn.episode for s in q.take(4)] == [0, 1, 2, 3] and len(q) == 2
    assert q.mark_trained(1) and q.consumed == 4
    ckpt = {"step": 1, "batch": list(q.last_batch)}  # checkpoint-1 saved here
    q.add(_samples(4, 6), "round-1", {"rounds": 2})  # collected after the checkpoint
    assert [s.turn.episode for s in q.take(4)] == [4, 5, 6, 7]
    q.mark_trained(2)
    q.take(4)  # step 3 was running when the process died: taken, never marked
    with pytest.raises(ConfigError, match="already open for writing"):  # one writer, the sync driver too
        RolloutBuffer(path)
    q.store._lock_fh.close()  # the kill -9: the OS drops the lock, the process never closes the store
    q = RolloutBuffer(path)
    assert q.get_meta("rounds") == 2  # the round counter survived with the rows it collected
    assert q.restore(ckpt["step"], ckpt["batch"]) == 6 and q.consumed == 4  # step 2's marks were undone
    assert [s.turn.episode for s in q.take(6)] == [4, 5, 6, 7, 8, 9]  # oldest first, incl. post-checkpoint
    q.mark_trained(2)
    q.close()
    rows = read_turns(tmp_path / "run")  # a reader: no lock, nothing changed
    assert [r["status"] for r in rows] == ["trained"] * 10
    assert [r["step"] for r in rows] == [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert [r["grp"] for r in rows] == ["round-0"] * 6 + ["round-1"] * 4
    assert rows[1]["credit"] == {"a_rl": 1.0, "has_score": True, "has_hint": False}


def test_sync_reconcile_marks_a_saved_steps_batch_whose_marks_were_not_written(tmp_path):
    from claw_trainer.buffer import RolloutBuffer

    q = RolloutBuffer(tmp_path / "turns.sqlite")
    ids = q.add(_samples(4, 0), "round-0")
    q.take(2)  # the checkpoint of step 1 recorded these ids, then the process died before marking them
    q.close()
    q = RolloutBuffer(tmp_path / "turns.sqlite")
    assert q.restore(1, ids[:2]) == 2 and q.consumed == 2
    assert [s.turn.episode for s in q.take(5)] == [2, 3]
    q.close()
