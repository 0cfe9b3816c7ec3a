"""A whole run on real Ray: Serve teacher + probe actors + learner actor + Train/DeepSpeed.

The `tiny` preset (tiny random models, 2 rounds), on the session's shared runs (conftest.py). Checks the run
directory, the ledger, that the student learned, and what a pipelined run saves. A run stopped after round 0
and resumed: test_console.py (in a terminal) and test_faults.py (killed, and pipelined).
"""

import json

import pytest
import torch

from read_ray.config import load_config, replace
from read_ray.model.loading import load_causal_lm


def tiny_cfg(tmp_path, name):
    return replace(load_config("tiny"), run={"name": name, "runs_dir": str(tmp_path)})


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_two_round_run(tiny_run, tmp_path):
    run, cfg = tiny_run.run, tiny_run.cfg
    records = run.records()
    # round 0 spends the allocation prior r_tau (math .6, reasoning .4); round 1 is the warm-started pick
    caps = cfg.capabilities.names
    assert records[0]["allocation"] == pytest.approx([{"math": 0.6, "reasoning": 0.4}.get(c, 0) for c in caps])
    assert records[0]["bandit_scores"]["mode"] == "prior" and records[1]["bandit_scores"]["mode"] == "ucb"
    assert len(records) >= 2 and run.complete_rounds() == list(range(len(records)))
    # teacher.keep_warm false: the engine is rebuilt for round 1
    assert records[0]["seconds"]["teacher_restart"] == 0 < records[1]["seconds"]["teacher_restart"]
    for index in run.complete_rounds():
        manifest = json.loads((run.round_dir(index) / "MANIFEST.json").read_text())
        assert {"plan.json", "record.json", "state.json", "bandit.pt", "student/config.json"} <= set(manifest["files"])
    ledger = records[-1]["ledger"]
    charged = sum(sum(r["generation_tokens"].values()) + sum(r["training_tokens"].values()) for r in records)
    assert ledger["generation_tokens"] + ledger["training_tokens"] == charged <= cfg.budget.total_tokens
    assert len((run.root / "ledger.jsonl").read_text().splitlines()) == len(records)
    first = load_causal_lm(run.root / "student_init")
    last = load_causal_lm(run.round_dir(len(records) - 1) / "student")
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), last.parameters(), strict=True))

    # the run's own rounds as a bank: one transition per complete round, contexts rebuilt from the records
    from read_ray.experiments.bank import build_bank

    own = build_bank(cfg, [run.root], tmp_path / "own_bank.json")
    assert len(own.transitions) == len(records) and own.sources == (cfg.run.name,)
    assert own.transitions[1].context.last_allocation == pytest.approx(records[0]["allocation"])
    assert own.transitions[1].context.profile == pytest.approx(records[1]["profile_before"])


def test_resume_refuses_another_config(tmp_path):
    cfg = tiny_cfg(tmp_path, "clash")
    from read_ray.runtime.rundir import RunDirectory

    RunDirectory.open(cfg)
    other = replace(cfg, budget={"total_tokens": 9000})
    with pytest.raises(ValueError, match="budget.total_tokens: 6000 -> 9000"):
        RunDirectory.open(other)
    RunDirectory.open(other, force=True)


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_pipelined_run_saves_its_next_pick_with_each_round(piped_run):
    """run.pipeline: round 1's allocation is chosen before round 0's reward is known and saved with round 0
    (next_choice.json), generation of the next round overlaps training, and the ledger never exceeds the
    budget. (A pipelined run stopped in round 1 and resumed uses the saved pick: test_faults.py.)"""
    full = piped_run.run
    records = full.records()
    assert len(records) == 2 and (full.round_dir(0) / "next_choice.json").is_file()
    saved = json.loads((full.round_dir(0) / "next_choice.json").read_text())
    assert saved["plan"]["allocation"] == pytest.approx(records[1]["allocation"])
    assert records[-1]["ledger"]["generation_tokens"] + records[-1]["ledger"]["training_tokens"] <= 6000
    assert all(r["seconds"]["generate_wait"] <= r["seconds"]["generate"] + 1e-6 for r in records)
