"""A whole run on real Ray: Serve teacher + probe actors + learner actor + Train/DeepSpeed on 2 workers.

The `tiny` preset (tiny random models, 2 rounds). Checks the run directory, the ledger, that the student
learned, and that a run stopped after round 1 and resumed selects and charges what an uninterrupted run does.
"""

import json

import pytest
import torch

from read_ray.config import load_config, replace
from read_ray.model.loading import load_causal_lm
from read_ray.runtime.controller import run_distillation


def tiny_cfg(tmp_path, name):
    return replace(load_config("tiny"), run={"name": name, "runs_dir": str(tmp_path)})


def summary(run):
    records = run.records()
    ledger = json.loads((run.root / "ledger.jsonl").read_text().splitlines()[-1])
    return [r["allocation"] for r in records], ledger, [r["reward"]["reward"] for r in records]


def simulated_bank_file(tmp_path) -> str:
    """A transition bank (2 simulated static runs) for the tiny preset's capabilities: warm start end to end."""
    from read_ray.core.bank import save_bank
    from read_ray.core.simulator import default_world, simulated_bank

    cfg = load_config("tiny")
    path = tmp_path / "sim_bank.json"
    save_bank(simulated_bank(cfg, default_world(cfg.capabilities.names), 2), path)
    return str(path)


@pytest.mark.timeout(900)
def test_two_round_run_and_resume(ray_cluster, tmp_path):
    bank = simulated_bank_file(tmp_path)
    cfg = replace(tiny_cfg(tmp_path, "full"), teacher={"keep_warm": False},   # the engine is rebuilt for round 1
                  bandit={"bank_path": bank})
    run = run_distillation(cfg)
    records = run.records()
    # round 0 spends the allocation prior r_tau (math .6, reasoning .4); round 1 is the warm-started pick
    caps = cfg.capabilities.names
    assert records[0]["allocation"] == pytest.approx([{"math": 0.6, "reasoning": 0.4}.get(c, 0) for c in caps])
    assert records[0]["bandit_scores"]["mode"] == "prior" and records[1]["bandit_scores"]["mode"] == "ucb"
    assert len(records) >= 2 and run.complete_rounds() == list(range(len(records)))
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
    assert len(own.transitions) == len(records) and own.sources == ("full",)
    assert own.transitions[1].context.last_allocation == pytest.approx(records[0]["allocation"])
    assert own.transitions[1].context.profile == pytest.approx(records[1]["profile_before"])

    # stopped after round 1, then resumed (engine kept warm): same selections, same ledger, nothing charged twice
    cfg2 = replace(tiny_cfg(tmp_path, "resumed"), bandit={"bank_path": bank})
    partial = run_distillation(cfg2, max_rounds=1)
    assert partial.complete_rounds() == [0]
    (partial.rounds_dir / "round_0001.partial").mkdir()          # debris of an interrupted round
    resumed = run_distillation(cfg2)
    assert summary(resumed)[:2] == summary(run)[:2]


def test_resume_refuses_another_config(ray_cluster, tmp_path):
    cfg = tiny_cfg(tmp_path, "clash")
    from read_ray.runtime.rundir import RunDirectory

    RunDirectory.open(cfg)
    other = replace(cfg, budget={"total_tokens": 9000})
    with pytest.raises(ValueError, match="budget.total_tokens: 6000 -> 9000"):
        RunDirectory.open(other)
    RunDirectory.open(other, force=True)


@pytest.mark.timeout(900)
def test_pipelined_run_resumes_with_its_saved_pick(ray_cluster, tmp_path):
    """run.pipeline: round 1's allocation is chosen before round 0's reward is known and saved with round 0;
    a run stopped after round 0 resumes with that pick, so it selects and charges what an uninterrupted
    pipelined run does, and the ledger never exceeds the budget.

    One request per Serve batch: the resumed run regenerates round 1's supervision on an idle machine while
    the uninterrupted one generated it beside round 0's training, so time-based batching groups the
    requests differently, and with a random tiny model a batched matmul's rounding can flip a greedy
    near-tie and change a completion's length. Fixed batches make the teacher bitwise repeatable."""
    piped = {"run": {"pipeline": True}, "teacher": {"max_batch_size": 1}}
    full = run_distillation(replace(tiny_cfg(tmp_path, "piped"), **piped))
    records = full.records()
    assert len(records) == 2 and (full.round_dir(0) / "next_choice.json").is_file()
    assert records[-1]["ledger"]["generation_tokens"] + records[-1]["ledger"]["training_tokens"] <= 6000
    assert all(r["seconds"]["generate_wait"] <= r["seconds"]["generate"] + 1e-6 for r in records)

    cfg = replace(tiny_cfg(tmp_path, "piped_resumed"), **piped)
    assert run_distillation(cfg, max_rounds=1).complete_rounds() == [0]
    resumed = run_distillation(cfg)
    assert summary(resumed)[:2] == summary(full)[:2]
