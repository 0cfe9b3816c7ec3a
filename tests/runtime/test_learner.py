"""The learner actor selects what the in-process policy selects, and restores exactly from its saved state."""

import numpy as np
import psutil
import pytest
from ray._private import state as ray_state  # the actor table (pids)

from read_ray.config import load_config, replace
from read_ray.core.bandit import Context
from read_ray.core.reward import compute_reward
from read_ray.runtime.learner import BanditLearner, start_learner

CFG = replace(load_config("tiny"), bandit={"warmup_rounds": 1})
R = np.array([0, 0, 0.4, 0.6, 0, 0, 0, 0])


def drive(learner_call, rounds, start=0, last=(None, None)):
    picks = []
    last_w, last_r = last
    for t in range(start, start + rounds):
        ctx = Context(tuple(R), (float(t),) * 8, 1 - t / 10, last_w, last_r)
        w = np.asarray(learner_call("select", ctx))
        delta = np.random.default_rng(t).normal(size=8) + 5 * w
        terms = compute_reward(R, delta, 1000)
        learner_call("update", ctx, w, terms)
        picks.append(w)
        last_w, last_r = tuple(w), terms.reward
    return picks, (last_w, last_r)


def test_actor_matches_local_and_resumes(ray_cluster, tmp_path):
    ray = ray_cluster
    local = BanditLearner(CFG, 8, seed=3)
    expected, _ = drive(lambda m, *a: getattr(local, m)(*a), 5)

    actor = start_learner(CFG, 8, seed=3)
    call = lambda m, *a: ray.get(getattr(actor, m).remote(*a), timeout=60)  # noqa: E731
    head, last = drive(call, 3)
    path = str(tmp_path / "bandit.pt")
    ray.get(actor.save.remote(path), timeout=60)
    # the actor reports its own peak, in bytes: at least the resident size its process had before the call
    # (less 4 MiB: the kernel batches resident-page counts per CPU)
    pid = next(a["Pid"] for a in ray_state.actors().values() if a["ActorID"] == actor._actor_id.hex())
    resident = psutil.Process(pid).memory_info().rss
    peak = ray.get(actor.peak_rss_bytes.remote(), timeout=60)
    assert resident - 4 * 2**20 <= peak <= psutil.virtual_memory().total
    ray.kill(actor)

    resumed = start_learner(CFG, 8, seed=3, state_path=path)
    call = lambda m, *a: ray.get(getattr(resumed, m).remote(*a), timeout=60)  # noqa: E731
    tail, _ = drive(call, 2, start=3, last=last)
    assert all(np.array_equal(a, b) for a, b in zip(expected, head + tail, strict=True))


def test_corrupt_state_is_a_clear_error(tmp_path):
    bad = tmp_path / "bandit.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="missing or corrupt"):
        BanditLearner(CFG, 8, seed=0).load(str(bad))


def test_learner_warm_starts_from_bank_path_and_refuses_another_bank_on_resume(tmp_path):
    from read_ray.core.bank import save_bank
    from read_ray.core.simulator import default_world, simulated_bank

    banks = []
    for runs in (1, 2):
        path = tmp_path / f"bank{runs}.json"
        save_bank(simulated_bank(CFG, default_world(CFG.capabilities.names), runs), path)
        banks.append(replace(CFG, bandit={"bank_path": str(path)}))
    learner = BanditLearner(banks[0], 8, seed=0)
    assert learner.policy.bank is not None and len(learner.policy.bank.transitions) == 2
    learner.select(Context(tuple(R), (0.0,) * 8, 1.0, None, None))
    assert learner.policy.model.fitted                       # fitted on the bank before the first pick
    learner.save(str(tmp_path / "bandit.pt"))
    with pytest.raises(ValueError, match="same bandit.bank_path"):
        BanditLearner(banks[1], 8, seed=0).load(str(tmp_path / "bandit.pt"))
