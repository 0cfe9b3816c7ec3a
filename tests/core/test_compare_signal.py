"""benchmarks/compare_signal.py on a compare folder laid out as `read-ray compare` writes it."""

import json
from pathlib import Path

import pytest


def _arm(out: Path, policy: str, seed: int, rounds: list[dict]) -> None:
    run = f"runs/{policy}_seed{seed}"
    (out / "arms").mkdir(parents=True, exist_ok=True)
    (out / "arms" / f"{policy}_seed{seed}.json").write_text(json.dumps({"policy": policy, "seed": seed, "run_dir": run}))
    for i, r in enumerate(rounds):
        path = out / run / "rounds" / f"round_{i:04d}" / "record.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"round_index": i, **r}))


def test_targeting_is_trained_minus_untrained_change_and_uniform_has_none(tmp_path, benchmark_script):
    signal = benchmark_script("compare_signal")
    _arm(tmp_path, "read", 0, [
        {"allocation": [1.0, 0.0, 0.0], "reward": {"reward": 5.0, "delta_s": [9.0, 3.0, 1.0]}, "profile_ci": [2, 4, 6],
         "bandit_scores": {"mode": "warmup"}},
        {"allocation": [0.5, 0.5, 0.0], "reward": {"reward": 1.0, "delta_s": [2.0, 4.0, 1.0]}, "profile_ci": [1, 1, 1],
         "bandit_scores": {"mode": "ucb", "mu": 4.0, "sigma": 0.5}}])
    _arm(tmp_path, "uniform", 0, [
        {"allocation": [1 / 3] * 3, "reward": {"reward": 2.0, "delta_s": [3.0, 3.0, 6.0]}, "profile_ci": [1, 1, 1]}])
    (tmp_path / "arms" / "initial_seed0.json").write_text(json.dumps({"test_utility": -1.0}))
    rows = {(r["policy"], r["round"]): r for r in signal.by_policy_round(signal.round_rows(tmp_path))}
    assert set(rows) == {("read", 0), ("read", 1), ("uniform", 0)}
    assert rows["read", 0]["targeting_pts"] == 9.0 - 2.0 and rows["read", 0]["shared_pts"] == 2.0
    assert rows["read", 0]["probe_ci_pts"] == 4.0 and rows["read", 0]["sigma"] is None
    assert rows["read", 1]["targeting_pts"] == 3.0 - 1.0
    assert rows["read", 1]["model_error"] == pytest.approx(3.0) and rows["read", 1]["sigma"] == 0.5
    assert rows["uniform", 0]["targeting_pts"] is None and rows["uniform", 0]["shared_pts"] == 4.0


def test_top_share_is_the_mean_allocation_on_argmax_r_and_correlates_with_the_outcome(tmp_path, benchmark_script):
    signal = benchmark_script("compare_signal")
    (tmp_path / "arms").mkdir()
    (tmp_path / "results.json").write_text(json.dumps({"requirement": [0.2, 0.8], "capabilities": ["gk", "math"]}))
    for seed, (allocations, change) in enumerate([([[0.0, 1.0], [0.5, 0.5]], 3.0), ([[1.0, 0.0]], 1.0),
                                                  ([[0.5, 0.5]], 2.0)]):
        (tmp_path / "arms" / f"read_seed{seed}.json").write_text(json.dumps(
            {"policy": "read", "seed": seed, "run_dir": f"runs/read_seed{seed}", "allocations": allocations,
             "metrics": {"test_utility_change": change}}))
    (tmp_path / "arms" / "grid_seed0.pilots.json").write_text(json.dumps({"mixes": []}))
    outcome = signal.top_share_rows(tmp_path)
    assert outcome["top_capability"] == "math"
    assert [(r["arm"], r["top_share"], r["utility_change"]) for r in outcome["arms"]] == [
        ("read_seed0", 0.75, 3.0), ("read_seed1", 0.0, 1.0), ("read_seed2", 0.5, 2.0)]
    assert outcome["pearson_r"] == pytest.approx(0.982, abs=1e-3)
