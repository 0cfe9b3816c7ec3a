"""A comparison's plots, without running a comparison: the end of `read-ray compare` (summarize + write_results)
on finished arms, and `read-ray report` on the committed benchmarks/compare_default (results.json in the
format written before several references were paired)."""

import json
import shutil
from pathlib import Path

import pytest

from read_ray.cli import main
from read_ray.config import load_config, replace
from read_ray.core.comparison import STAGES
from read_ray.experiments.compare import plan_arms, summarize, write_results
from read_ray.experiments.report import paired_against

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_default"
PLOTS = ("paired_utility", "utility_vs_tokens", "utility", "read_allocation", "profile")
CHANGE = {"read": (3.3, 2.9, 3.4), "uniform": (2.9, 2.7, 3.1), "task_static": (3.1, 2.8, 3.2)}


def _written(folder: Path) -> set[str]:
    names = set()
    for path in (folder / "plots").glob("*.png"):
        assert path.stat().st_size > 5_000 and path.read_bytes()[:4] == b"\x89PNG", path
        names.add(path.stem)
    return names


def _arm(cfg, policy: str, seed: int) -> dict:
    """A finished arm as run_arm writes it (arms/<policy>_seed<s>.json), with made-up numbers."""
    caps = cfg.capabilities.names
    change = CHANGE[policy][seed]
    metrics = {"test_utility": -5.0 + change, "test_utility_change": change, "on_target_gain": 10.0 + seed,
               "off_target_change": 1.0, "spillover": 0.5, **{f"profile/{c}": 5.0 * k for k, c in enumerate(caps)},
               **{f"tokens/{c}": 1000.0 * (k % 3) + 100 * seed for k, c in enumerate(caps)},
               **{f"seconds/{s}": 10.0 for s in STAGES}}
    metrics["tokens/total"] = sum(metrics[f"tokens/{c}"] for c in caps)
    allocations = [[1.0 if k == (r + seed) % len(caps) else 0.0 for k in range(len(caps))] for r in range(2)]
    return {"policy": policy, "seed": seed, "metrics": metrics, "allocations": allocations, "grid": None}


def test_compare_writes_the_paired_and_tokens_plots(tmp_path):
    cfg = replace(load_config("tiny"), run={"runs_dir": str(tmp_path / "runs")})
    policies, seeds = ["read", "uniform", "task_static"], [0, 1, 2]
    out = tmp_path / "compare"
    (out / "arms").mkdir(parents=True)
    for seed in seeds:
        for policy in policies:
            (out / "arms" / f"{policy}_seed{seed}.json").write_text(json.dumps(_arm(cfg, policy, seed)))
    results = summarize(cfg, plan_arms(cfg, policies, seeds, out), out)
    write_results(out, results)
    assert _written(out) == set(PLOTS)
    assert all(f"![{name}](plots/{name}.png)" in (out / "results.md").read_text() for name in PLOTS)

    reference, diffs = paired_against(results)          # task_static (w = r_tau) first, though uniform is paired too
    assert results["paired_references"] == ["task_static", "uniform"] and reference == "task_static"
    assert set(diffs) == {"read", "uniform"}
    assert diffs["read"]["values"] == pytest.approx([0.2, 0.1, 0.2]) and diffs["read"]["ci95"] > 0


def test_report_redraws_a_committed_comparison(tmp_path, capsys):
    out = tmp_path / "compare_default"
    out.mkdir()
    shutil.copy(COMMITTED / "results.json", out / "results.json")
    results = json.loads((out / "results.json").read_text())
    reference, diffs = paired_against(results)
    assert reference == "single_cap" and set(diffs) == set(results["policies"]) - {"single_cap"}
    assert main(["report", str(out)]) == 0
    assert _written(out) == set(PLOTS)
    assert capsys.readouterr().out.split() == [str(out / "plots" / f"{name}.png") for name in PLOTS]
