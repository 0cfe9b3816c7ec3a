"""`compare` on real Ray with the tiny preset: uniform and the grid baseline (two pilots), one seed.

Checks the JSON table (every policy, every metric with mean and CI), the plots, that the grid's pilot
tokens are charged to its budget, and that a second call skips the finished arms.
"""

import json
import math

import pytest

from read_ray.config import load_config
from read_ray.core.comparison import STAGES
from read_ray.experiments.compare import HEADLINE, run_compare


@pytest.mark.slow
@pytest.mark.timeout(1800)   # ~3 min on 2 quiet cores; a shared box is much slower
def test_compare_tiny_uniform_and_grid(ray_cluster, tmp_path):
    # r_tau uniform: the grid's candidates are r_tau (= the uniform mix) and the top-1 one-hot, two pilots
    cfg = load_config("tiny", ["budget.num_rounds=1", "compare.grid_top_k=1", "task.requirement_source=uniform",
                                "resources.train_workers=1"])
    out = tmp_path / "cmp"
    logs = []
    run_compare(cfg, ["uniform", "grid"], [1], out, log=logs.append)

    data = json.loads((out / "results.json").read_text())
    assert set(data["policies"]) == {"uniform", "grid"} and data["evaluation_split"] == "test"
    caps = data["capabilities"]
    names = [*HEADLINE, *(f"tokens/{c}" for c in caps), *(f"profile/{c}" for c in caps),
             *(f"seconds/{s}" for s in STAGES)]
    for row in data["policies"].values():
        for name in names:
            metric = row["metrics"][name]
            assert math.isfinite(metric["mean"]) and metric["ci95"] is None and metric["n"] == 1, name
        assert row["metrics"]["tokens/total"]["mean"] <= cfg.budget.total_tokens
        assert row["metrics"]["seconds/train"]["mean"] > 0
    for plot in ("utility.png", "profile.png"):
        assert (out / "plots" / plot).stat().st_size > 1000
    assert "| grid |" in (out / "results.md").read_text()
    # Δ utility paired by seed against each reference that ran (no task_static here)
    assert data["paired_references"] == ["grid", "uniform"]
    paired = data["policies"]["grid"]["paired_utility_change"]["uniform"]
    assert data["policies"]["uniform"]["paired_utility_change"]["grid"]["values"] == pytest.approx(
        [-v for v in paired["values"]])
    per_policy = {p: data["policies"][p]["metrics"]["test_utility_change"]["values"] for p in ("grid", "uniform")}
    assert paired["values"] == pytest.approx([g - u for g, u in zip(per_policy["grid"], per_policy["uniform"], strict=True)])
    assert "against `uniform`, paired by seed" in (out / "results.md").read_text()

    # the grid's pilots (r_tau = uniform, a one-hot) are charged: its final run's ledger holds B minus their spending
    grid = data["policies"]["grid"]["grid"]["1"]
    assert len(grid["mixes"]) == 2 and grid["pilot_budget_tokens"] == int(6000 * 0.2) // 2
    assert all(0 < s <= grid["pilot_budget_tokens"] for s in grid["pilot_spent_tokens"])
    assert grid["final_total_tokens"] == cfg.budget.total_tokens - sum(grid["pilot_spent_tokens"])
    # what each pilot was taught (its teacher batches): never outside its mix; a narrower one is flagged
    taught = grid["pilot_taught_capabilities"]
    assert len(taught) == 2 and all(t and set(t) <= set(m) for t, m in zip(taught, grid["mixes"], strict=True))
    narrowed = sum(set(t) != set(m) for t, m in zip(taught, grid["mixes"], strict=True))
    assert sum("warning" in m and "teacher batches held only" in m for m in logs) == narrowed
    assert f"| {narrowed} of 2 |" in (out / "results.md").read_text()
    arm = json.loads((out / "arms" / "grid_seed1.json").read_text())
    assert arm["run_dir"] == "runs/grid_seed1"
    assert (out / arm["run_dir"] / "config.yaml").is_file()    # relative to OUT: arms/ can be moved or committed
    final_spent = arm["ledger"]["generation_tokens"] + arm["ledger"]["training_tokens"]
    assert arm["ledger"]["total_tokens"] == grid["final_total_tokens"]
    assert data["policies"]["grid"]["metrics"]["tokens/total"]["mean"] == sum(grid["pilot_spent_tokens"]) + final_spent
    assert arm["allocations"][0] == pytest.approx([grid["mixes"][grid["best"]].get(c, 0.0) for c in caps])

    # a second call resumes: every arm is finished, nothing runs again
    before = (out / "arms" / "uniform_seed1.json").stat().st_mtime_ns
    again = run_compare(cfg, ["uniform", "grid"], [1], out, log=lambda m: None)
    assert (out / "arms" / "uniform_seed1.json").stat().st_mtime_ns == before
    assert again["policies"]["grid"]["metrics"] == data["policies"]["grid"]["metrics"]
