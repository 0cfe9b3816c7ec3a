"""`read-ray sweep`: search-space checks (no Ray), a simulator sweep under ASHA, and a real sweep on `tiny`.

The real sweep runs two whole distillations as Tune trials on the shared 2-CPU cluster: it fails (times
out) if the trial's placement leaves no CPU for its Train workers, Serve replicas or probe actors.
"""

import csv
import json

import pytest
import yaml

from read_ray.cli import main
from read_ray.config import load_config, replace, validate
from read_ray.experiments.sweep import DEFAULT_SEARCH_SPACE, load_search_space, run_sweep


def write_space(tmp_path, space: dict):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def test_default_search_space_covers_the_bandit_and_reward_knobs():
    space = load_search_space(None, load_config("default"))
    assert {"bandit.kappa", "bandit.kappa_decay", "reward.beta", "reward.lambda_per_1k_tokens",
            "bandit.ensemble_size", "bandit.hidden", "bandit.warmup_rounds", "reward.spill_top_k",
            "allocation.weight_grid"} <= set(space)
    assert load_search_space(DEFAULT_SEARCH_SPACE, load_config("tiny")) == space


@pytest.mark.parametrize("space, message", [
    ({"bandit.kapa": {"uniform": [0.1, 1.0]}}, "unknown key 'bandit.kapa': bandit has no 'kapa'"),
    ({"teacher.temperature": {"uniform": [0.0, 1.0]}}, "unknown key 'teacher.temperature': only keys of the sections"),
    ({"bandit.kappa": {"normal": [0, 1]}}, "bandit.kappa: give exactly one distribution"),
    ({"bandit.kappa": {"uniform": [1.0, 0.1]}}, "bandit.kappa: uniform needs low < high"),
    ({"reward.lambda_per_1k_tokens": {"loguniform": [0.0, 0.1]}}, "loguniform needs low > 0"),
    ({"bandit.ensemble_size": {"choice": [1, 3]}},
     "bandit.ensemble_size: choice value 1 is not valid here: bandit.ensemble_size: need >= 2 members"),
    ({"allocation.weight_grid": {"choice": [[0.5], [0.5, 1.5]]}},
     "allocation.weight_grid: choice value [0.5, 1.5] is not valid here: allocation.weight_grid: weights must be in (0, 1)"),
    ({"bandit.hidden": {"choice": ["wide"]}}, "bandit.hidden: expected int, got 'wide'"),
])
def test_search_space_errors_name_the_key(tmp_path, space, message):
    with pytest.raises(ValueError, match="search space") as err:
        load_search_space(write_space(tmp_path, space), load_config("tiny"))
    assert message in str(err.value)


def test_cli_rejects_a_bad_search_space(tmp_path, capsys):
    path = write_space(tmp_path, {"bandit.kappa": {"uniform": [0.1, 1.0]}, "reward.bta": {"uniform": [0, 1]}})
    assert main(["sweep", "--mode", "sim", "--config", "tiny", "--search-space", str(path),
                 "--out", str(tmp_path / "out")]) == 2
    assert "unknown key 'reward.bta': reward has no 'bta'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()                  # checked before the sweep started


def check_outputs(result, metric: str, space: dict):
    rows = list(csv.DictReader(open(result.out_dir / "trials.csv")))
    values = [float(r[metric]) for r in rows if r["status"] == "complete"]
    assert values == sorted(values, reverse=True) and result.best_objective == values[0]
    markdown = (result.out_dir / "trials.md").read_text().splitlines()
    assert markdown[2].startswith("| rank | trial | status | rounds | " + metric)
    assert len([line for line in markdown if line.startswith("| ") and line[2].isdigit()]) == len(rows)
    best = validate(load_config(str(result.best_preset)))           # what `read-ray run --config` does
    assert best.run.name.endswith("-swept")
    for key, value in result.best_params.items():
        section, field = key.split(".")
        got = getattr(getattr(best, section), field)
        assert (list(got) if isinstance(got, tuple) else got) == pytest.approx(value)
        assert key in space
    summary = json.loads((result.out_dir / "sweep.json").read_text())
    assert summary["best"]["params"] == result.best_params
    return rows


@pytest.mark.timeout(600)
def test_sim_sweep_stops_bad_trials_and_writes_a_preset_that_loads(ray_cluster, tmp_path):
    cfg = replace(load_config("tiny"), budget={"num_rounds": 6})
    space = load_search_space(None, cfg)
    result = run_sweep(cfg, mode="sim", num_samples=6, space=space, out_dir=tmp_path / "sim", verbose=0)
    rows = check_outputs(result, "utility", space)
    assert len(rows) == 6 and {r["status"] for r in rows} <= {"complete", "stopped early"}
    assert all(int(r["rounds"]) == 6 for r in rows if r["status"] == "complete")
    assert len({r["bandit.kappa"] for r in rows}) == 6                   # trials really differ
    assert result.best_objective > 0
    with pytest.raises(ValueError, match="already holds a sweep"):
        run_sweep(cfg, mode="sim", num_samples=1, space=space, out_dir=tmp_path / "sim")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_real_sweep_on_tiny_runs_whole_distillations_one_at_a_time(ray_cluster, tmp_path):
    # one round per trial, with its dev checkpoint (the objective): a trial is still a whole run
    cfg = replace(load_config("tiny"), run={"runs_dir": str(tmp_path / "runs")},
                  budget={"num_rounds": 1, "total_tokens": 3000}, bandit={"dev_every_rounds": 1})
    space = {"bandit.kappa": {"choice": [0.5, 2.0]}, "reward.beta": {"uniform": [0.0, 1.0]}}
    result = run_sweep(cfg, mode="real", num_samples=2, space=space, out_dir=tmp_path / "real", verbose=0)
    rows = check_outputs(result, "dev_utility_change", space)
    assert [r["status"] for r in rows] == ["complete", "complete"]
    for row in rows:                              # one whole run per trial, in its own run directory
        run_dir = tmp_path / "real" / "trials" / f"_real_trial_{row['trial']}"
        records = [json.loads(p.read_text()) for p in sorted(run_dir.glob("rounds/round_*/record.json"))]
        assert int(row["rounds"]) == len(records) == cfg.budget.num_rounds
        assert float(row["dev_utility_change"]) == pytest.approx(records[-1]["dev_utility_change"])
        assert float(row["bandit.kappa"]) in (0.5, 2.0)
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["bandit"]["kappa"] == float(row["bandit.kappa"])
