"""benchmarks/paired_arms.py on arms laid out as `read-ray compare` writes them, one folder per arm."""

import json
import re
from pathlib import Path

import pytest


def _arm(out: Path, policy: str, seed: int, change: float, dev: list[float | None]) -> str:
    """An arm JSON and its run's round records (dev utility change per round, None = no dev checkpoint)."""
    run = out / "runs" / f"{policy}_seed{seed}"
    for index, value in enumerate(dev):
        folder = run / "rounds" / f"round_{index:04d}"
        folder.mkdir(parents=True)
        record = {"round_index": index} | ({} if value is None else {"dev_utility_change": value})
        (folder / "record.json").write_text(json.dumps(record))
    path = out / "arms" / f"{policy}_seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"policy": policy, "seed": seed, "run_dir": f"runs/{policy}_seed{seed}",
                                "metrics": {"test_utility_change": change}}))
    return str(path)


def test_pairs_by_seed_with_the_final_dev_change_and_a_t_interval(tmp_path, capsys, benchmark_script):
    ref = [_arm(tmp_path / "static", "task_static", s, c, [1.0, d]) for s, c, d in ((0, 3.0, 3.4), (1, 3.5, 3.3))]
    arm = [_arm(tmp_path / f"read_{s}", "read", s, c, [1.0, None]) for s, c in ((1, 3.25), (0, 3.5))]
    benchmark_script("paired_arms").main([*ref, "--against", *arm])
    out = capsys.readouterr().out
    assert "| 0 | +3.0000 | +3.5000 | +0.5000 | +3.4000 | n/a |" in out
    assert "| 1 | +3.5000 | +3.2500 | -0.2500 | +3.3000 | n/a |" in out
    # mean +0.125; SD of (0.5, -0.25) = 0.5303, so SD / sqrt(2) = 0.375; t(0.975, 1 df) = 12.706
    mean, half = re.search(r"test_utility_change: ([+-][\d.]+) ± ([\d.]+) \(95% CI, Student t, n = 2\)", out).groups()
    assert float(mean) == 0.125 and float(half) == pytest.approx(0.375 * 12.706, abs=2e-4)


def test_unpaired_seeds_and_mixed_policies_are_refused(tmp_path, benchmark_script):
    ref = [_arm(tmp_path / "static", "task_static", s, 3.0, [1.0]) for s in (0, 1)]
    one = _arm(tmp_path / "read", "read", 0, 3.0, [1.0])
    with pytest.raises(SystemExit, match=r"unpaired seeds: reference has \[0, 1\], --against has \[0\]"):
        benchmark_script("paired_arms").main([*ref, "--against", one])
    other = _arm(tmp_path / "uniform", "uniform", 1, 3.0, [1.0])
    with pytest.raises(SystemExit, match="--against: arms of several policies"):
        benchmark_script("paired_arms").main([*ref, "--against", one, other])
