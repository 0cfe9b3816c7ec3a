"""benchmarks/paired_arms.py on arms laid out as `read-ray compare` writes them, one folder per arm."""

import json
import re
from pathlib import Path

import pytest


def _arm(out: Path, policy: str, seed: int, change: float, dev: list[float | None],
         gap_closure: dict[str, float] | None = None) -> str:
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
                                "metrics": {"test_utility_change": change},
                                "test_subtasks": {t: {"gap_closure": g} for t, g in (gap_closure or {}).items()}}))
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


def _stage(folder: Path, read_changes: dict[int, float], bars: dict[str, dict[int, float]] | None = None) -> None:
    """A stage folder as protocol.sh lays it out: task_static and grid on seeds 10-12, read_warm on the given
    seeds, each with an `initial_*` arm JSON beside it and grid with its `*.pilots.json`: the table reads neither."""
    bars = bars or {"task_static": {10: 40.0, 11: 41.0, 12: 42.0}, "grid": {10: 40.5, 11: 40.5, 12: 43.0}}
    for name, changes in (*bars.items(), ("read_warm", read_changes)):
        policy = "read" if name == "read_warm" else name
        for seed, change in changes.items():
            _arm(folder / name, policy, seed, change, [change - 1.0], {"gsm8k": change, "mbpp": change + 2.0})
            (folder / name / "arms" / f"initial_seed{seed}.json").write_text("{}")
            if name == "grid":
                (folder / name / "arms" / f"grid_seed{seed}.pilots.json").write_text("[]")


def _table(benchmark_script, capsys, *argv: str) -> str:
    benchmark_script("paired_arms").main(["--table", *argv])
    return capsys.readouterr().out


def test_table_pairs_each_arm_with_each_bar_and_applies_the_protocol_rule(tmp_path, capsys, benchmark_script):
    _stage(tmp_path, {10: 41.0, 11: 42.0, 12: 43.5})
    out = _table(benchmark_script, capsys, str(tmp_path), "--decide", "read_warm")
    # read_warm: (41, 42, 43.5), SD 1.258, half 4.303 * 1.258 / sqrt(3) = 3.126; gap closures gsm8k, mbpp
    # read_warm - task_static = (1, 1, 1.5): mean 1.1667, SD 0.2887, half 4.303 * 0.2887 / sqrt(3) = 0.717
    # read_warm - grid = (0.5, 1.5, 0.5): mean 0.8333, SD 0.5774, half 1.434
    assert ("| read_warm | 10,11,12 | +42.167 ± 3.126 | +41.167 ± 3.126 | 42.167 ± 3.126 | 44.167 ± 3.126 "
            "| +1.167 ± 0.717 (3) | +0.833 ± 1.434 (3) |") in out
    # task_static - grid = (-0.5, 0.5, -1): mean -0.333, SD 0.764, half 1.897; no difference against itself
    assert ("| task_static | 10,11,12 | +41.000 ± 2.484 | +40.000 ± 2.484 | 41.000 ± 2.484 | 43.000 ± 2.484 |  "
            "| -0.333 ± 1.897 (3) |") in out
    assert "initial" not in out and "pilots" not in out
    assert out.rstrip().endswith("read_warm against task_static, grid by PROTOCOL.md's rule (test_utility_change; "
                                 "n = 3 against task_static, n = 3 against grid): ties")


@pytest.mark.parametrize(("read_changes", "bars", "verdict"), [
    ({10: 42.0, 11: 42.5, 12: 44.5}, None, "wins"),       # +2, +1.5, +2.5 and +1.5, +2, +1.5
    ({10: 38.0, 11: 39.5, 12: 40.0}, None, "loses"),      # -2, -1.5, -2 against task_static
    # against task_static (-0.5, +0.2, -0.3): mean below 0, CI across it; against grid +0.5 each: a tie
    ({10: 39.5, 11: 41.2, 12: 41.7}, {"task_static": {10: 40.0, 11: 41.0, 12: 42.0},
                                      "grid": {10: 39.0, 11: 40.7, 12: 41.2}}, "ties"),
    ({10: 42.0}, None, "undecided (fewer than 2 paired seeds against a bar)"),
    # three seeds against task_static but one against grid: still undecided
    ({10: 45.0, 11: 46.0, 12: 47.0}, {"task_static": {10: 40.0, 11: 41.0, 12: 42.0}, "grid": {10: 40.5}},
     "undecided (fewer than 2 paired seeds against a bar)"),
])
def test_table_decision_wins_loses_ties_and_needs_two_paired_seeds_against_every_bar(
        tmp_path, capsys, benchmark_script, read_changes, bars, verdict):
    _stage(tmp_path, read_changes, bars)
    out = _table(benchmark_script, capsys, str(tmp_path), "--decide", "read_warm")
    assert re.search(r"by PROTOCOL.md's rule \(test_utility_change; [^)]*\): (.*)$", out.rstrip()).group(1).startswith(verdict)


def test_table_pairs_on_common_seeds_only_and_says_the_verdict_is_provisional(tmp_path, capsys, benchmark_script):
    _stage(tmp_path, {10: 41.0, 11: 42.0, 13: 50.0})   # seed 13: no bar has it
    out = _table(benchmark_script, capsys, str(tmp_path), "--decide", "read_warm")
    assert "| read_warm | 10,11,13 |" in out and "| +1.000 ± 0.000 (2) | +1.000 ± 6.353 (2) |" in out
    assert out.rstrip().endswith("(test_utility_change; n = 2 against task_static, n = 2 against grid): ties; "
                                 "provisional: seeds [12, 13] of this folder are missing from a pair")


def test_table_joins_per_seed_folders_and_shows_arms_without_per_task_scores(tmp_path, capsys, benchmark_script):
    # the selection stage: read (no bank) in one folder, read_warm in one folder per seed (its own bank each)
    _arm(tmp_path / "read", "read", 0, 3.0, [2.0, 2.5])
    _arm(tmp_path / "read", "read", 1, 3.2, [2.0, None])
    _arm(tmp_path / "read_warm_seed0", "read", 0, 3.4, [2.0, 3.0])
    _arm(tmp_path / "read_warm_seed1", "read", 1, 3.6, [2.0, 3.5])
    out = _table(benchmark_script, capsys, str(tmp_path), "--bars")
    assert "| arm | seeds | test_utility_change | final dev Δ |\n" in out   # no per-task or bar columns
    assert "| read | 0,1 | +3.100 ± 1.271 | +2.500 (n = 1) |" in out
    assert "| read_warm | 0,1 | +3.500 ± 1.271 | +3.250 ± 3.176 |" in out


def test_table_refuses_what_it_cannot_answer(tmp_path, benchmark_script):
    _stage(tmp_path, {10: 41.0})
    main = benchmark_script("paired_arms").main
    with pytest.raises(SystemExit, match=r"no arm folder named \['frozen'\]; it has \['grid', 'read_warm', 'task_static'\]"):
        main(["--table", str(tmp_path), "--decide", "frozen"])
    with pytest.raises(SystemExit, match="--decide task_static: name an arm that is not a bar"):
        main(["--table", str(tmp_path), "--decide", "task_static"])
    with pytest.raises(SystemExit, match=r"seed 10: no number for metric 'test_utility' \(its metrics: test_utility_change\)"):
        main(["--table", str(tmp_path), "--metric", "test_utility"])
    with pytest.raises(SystemExit, match="not a folder"):
        main(["--table", str(tmp_path / "absent")])
    _arm(tmp_path / "read_warm_seed10", "uniform", 11, 3.0, [1.0])
    with pytest.raises(SystemExit, match=r"arm read_warm holds several policies \['read', 'uniform'\]"):
        main(["--table", str(tmp_path)])
    for argv in (["--table", str(tmp_path), "x.json", "--against", "y.json"], ["x.json", "--against", "y.json",
                                                                             "--decide", "read"]):
        with pytest.raises(SystemExit):
            main(argv)
