"""benchmarks/compare_signal.py on a compare folder laid out as `read-ray compare` writes it."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_signal.py"


def _load():
    spec = importlib.util.spec_from_file_location("compare_signal", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arm(out: Path, policy: str, seed: int, rounds: list[dict]) -> None:
    run = f"runs/{policy}_seed{seed}"
    (out / "arms").mkdir(parents=True, exist_ok=True)
    (out / "arms" / f"{policy}_seed{seed}.json").write_text(json.dumps({"policy": policy, "seed": seed, "run_dir": run}))
    for i, r in enumerate(rounds):
        path = out / run / "rounds" / f"round_{i:04d}" / "record.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"round_index": i, **r}))


def test_targeting_is_trained_minus_untrained_change_and_uniform_has_none(tmp_path):
    signal = _load()
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
