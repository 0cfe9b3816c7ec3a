"""The comparison table's statistics, the grid baseline's mixes and pilot budget, the static policy, and
`read-ray compare` input errors (raised before any Ray resource is taken)."""

import math
import subprocess
import sys

import numpy as np
import pytest

from read_ray.config import load_config, replace, validate
from read_ray.core.bandit import Context
from read_ray.core.comparison import (
    grid_mixes,
    mean_ci95,
    paired_differences,
    pilot_budget_tokens,
    profile_change_metrics,
    spend_totals,
    summarize_seeds,
)
from read_ray.core.policies import make_policy
from read_ray.runtime.cluster import runs_that_fit

R = np.array([0.6, 0.4, 0.0, 0.0])


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "read_ray.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_mean_ci95_is_a_student_t_interval():
    mean, half = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-6)
    assert mean_ci95([1.0, 3.0])[1] == pytest.approx(12.706 * math.sqrt(2) / math.sqrt(2))
    mean, half = mean_ci95([5.0])
    assert mean == 5.0 and math.isnan(half)
    with pytest.raises(ValueError):
        mean_ci95([])


def test_paired_differences_remove_the_variance_seeds_share():
    # the seeds differ a lot (3, 1, 5), the policy is ahead of the reference by 0.1 +- 0.02 on every seed
    base = [{"u": 3.0}, {"u": 1.0}, {"u": 5.0}]
    policy = [{"u": 3.1}, {"u": 1.08}, {"u": 5.12}]
    diff = paired_differences({"ref": base, "p": policy}, "ref", "u")
    assert diff["p"]["values"] == pytest.approx([0.1, 0.08, 0.12]) and diff["p"]["mean"] == pytest.approx(0.1)
    assert diff["p"]["ci95"] == pytest.approx(4.303 * 0.02 / math.sqrt(3), rel=1e-6)   # excludes 0
    assert summarize_seeds(policy)["u"]["ci95"] > 1.0                                  # unpaired: it does not
    assert diff["ref"]["values"] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="p has 2 seeds, ref has 3"):
        paired_differences({"ref": base, "p": policy[:2]}, "ref", "u")


def test_summarize_seeds_gives_mean_and_ci_per_metric_and_no_ci_for_one_seed():
    table = summarize_seeds([{"u": 1.0, "tokens/total": 10.0}, {"u": 3.0, "tokens/total": 10.0, "only": 1.0}])
    assert set(table) == {"u", "tokens/total"}              # a metric some seed lacks is not averaged
    assert table["u"]["mean"] == 2.0 and table["u"]["ci95"] == pytest.approx(12.706)
    assert table["tokens/total"]["ci95"] == 0.0 and table["u"]["values"] == [1.0, 3.0] and table["u"]["n"] == 2
    one = summarize_seeds([{"u": 0.5}])
    assert one["u"] == {"mean": 0.5, "ci95": None, "n": 1, "values": [0.5]}


def test_profile_change_metrics_split_target_and_off_target():
    # targets = top-3 of r that carry weight = {0, 1}; the two others are off-target
    m = profile_change_metrics(R, np.array([10.0, 5.0, -2.0, 4.0]), top_k=3)
    assert m["on_target_gain"] == pytest.approx(0.6 * 10 + 0.4 * 5)
    assert m["off_target_change"] == pytest.approx(1.0)
    assert m["spillover"] == pytest.approx(1.0)              # mean drop: (2 + 0) / 2
    assert profile_change_metrics(R, np.array([1.0, 1.0, 3.0, 3.0]), top_k=1)["on_target_gain"] == 1.0
    with pytest.raises(ValueError, match="shape"):
        profile_change_metrics(R, np.zeros(3), top_k=2)


def test_spend_totals_sum_tokens_per_capability_and_seconds_per_stage():
    records = [{"generation_tokens": {"math": 10, "code": 1}, "training_tokens": {"math": 20},
                "seconds": {"generate": 1.0, "train": 2.0, "round": 4.0}},
               {"generation_tokens": {"math": 5}, "training_tokens": {"math": 5, "code": 3},
                "seconds": {"generate": 0.5, "round": 1.0}}]
    t = spend_totals(("math", "code"), records)
    assert t["tokens/math"] == 40 and t["tokens/code"] == 4 and t["tokens/total"] == 44
    assert t["seconds/generate"] == 1.5 and t["seconds/train"] == 2.0 and t["seconds/round"] == 5.0
    assert t["seconds/probe"] == 0.0


def test_grid_mixes_and_pilot_budget():
    mixes = grid_mixes(R, 2, (0.5,))
    r_tau = list(np.asarray(R) / np.sum(R))
    expected = [r_tau, [1, 0, 0, 0], [0, 1, 0, 0], [0.5, 0.5, 0, 0], [0.25] * 4]
    assert np.allclose(mixes[0], r_tau)                       # the paper's task-static mix is a candidate
    assert sorted(map(tuple, np.round(mixes, 6).tolist())) == sorted(map(tuple, np.round(expected, 6).tolist()))
    assert len(grid_mixes(R, 1, (0.5,))) == 3 and np.allclose(mixes.sum(1), 1)
    assert pilot_budget_tokens(6000, 0.2, 4) == 300
    with pytest.raises(ValueError, match="grid_pilot_frac"):
        pilot_budget_tokens(10, 0.1, 4)


def test_static_policy_spends_every_round_on_its_mix():
    cfg = load_config("tiny")
    policy = make_policy("static", num_caps=4, seed=0, allocation=cfg.allocation, bandit=cfg.bandit,
                         reward=cfg.reward, static_mix=np.array([2.0, 2.0, 0.0, 0.0]))
    ctx = Context(requirement=tuple(R), profile=(0.0,) * 4, remaining_frac=1.0, last_allocation=None, last_reward=None)
    assert policy.select(ctx).tolist() == [0.5, 0.5, 0.0, 0.0] == policy.select(ctx).tolist()
    assert policy.state_dict() == {"num_selections": 2}
    with pytest.raises(ValueError, match="static_mix"):
        make_policy("static", num_caps=4, seed=0, allocation=cfg.allocation, bandit=cfg.bandit, reward=cfg.reward)


def test_config_checks_static_mix_and_compare_keys():
    cfg = load_config("tiny")
    with pytest.raises(ValueError, match="bandit.static_mix: policy=static"):
        validate(replace(cfg, bandit={"policy": "static"}))
    with pytest.raises(ValueError, match="bandit.static_mix.nope"):
        validate(load_config("tiny", ["bandit.policy=static", "bandit.static_mix.nope=1"]))
    validate(load_config("tiny", ["bandit.policy=static", "bandit.static_mix.math=1"]))
    with pytest.raises(ValueError, match="compare.grid_pilot_frac"):
        validate(load_config("tiny", ["compare.grid_pilot_frac=1.5"]))
    with pytest.raises(ValueError, match="compare.grid_top_k"):
        validate(load_config("tiny", ["compare.grid_top_k=0"]))


def test_runs_that_fit_divides_the_cluster_by_one_run():
    cfg = load_config("tiny")            # teacher .25 + probes 2 x .1 + learner .1 + train 2 x .5 + eval .1 = 1.65 CPU
    assert runs_that_fit(cfg, {"CPU": 2.0}) == 1
    assert runs_that_fit(cfg, {"CPU": 16.0}) == 9
    assert runs_that_fit(cfg, {"CPU": 1.0}) == 1         # never 0: a run that does not fit fails in check_resources
    gpu = replace(cfg, resources={"train_gpus_per_worker": 1.0})
    assert runs_that_fit(gpu, {"CPU": 16.0, "GPU": 4.0}) == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--policies", "read,oracle"], "oracle"),
        (["--seeds", "1,x"], "--seeds"),
        (["--seeds", "1,1"], "--seeds"),
        (["compare.grid_pilot_frac=0.001"], "grid pilot"),
    ],
)
def test_compare_bad_input_exits_before_ray(args, needle):
    out = cli("compare", "--config", "tiny", *args)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr
