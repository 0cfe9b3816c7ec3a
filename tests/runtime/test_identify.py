"""`identify` end to end on real Ray (tiny preset): interventions through the controller with a static
sparse allocation, g_phi fit and saved, the comparison table, resume from the cache, and `prepare` using
the saved identifier as the task's requirement vector."""

import json
import shutil

import numpy as np
import pytest

from read_ray.config import load_config, replace, validate
from read_ray.experiments.identify import run_identify
from read_ray.runtime.rundir import RunDirectory
from read_ray.runtime.setup import prepare
from read_ray.runtime.teacher import start_teacher, stop_teacher


def quiet(_message):
    pass


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_identify_then_prepare_with_the_learned_identifier(ray_cluster, tmp_path):
    cfg = replace(load_config("tiny"), run={"runs_dir": str(tmp_path / "runs")},
                  budget={"total_tokens": 3000, "num_rounds": 1})       # one short round per intervention
    caps = cfg.capabilities.names
    out = tmp_path / "identify"
    result = run_identify(cfg, ["gsm8k", "mbpp"], 1, out, log=quiet)       # one intervention per task

    rows = result["interventions"]
    assert [(r["task"], r["index"]) for r in rows] == [("gsm8k", 0), ("mbpp", 0)]
    assert len({tuple(r["allocation"]) for r in rows}) == 2
    for row in rows:
        allocation = np.array(row["allocation"])
        assert 1 <= np.count_nonzero(allocation) <= cfg.allocation.top_k and allocation.sum() == pytest.approx(1)
        run = RunDirectory(out / row["run_dir"])
        records = run.records()
        assert len(records) == row["rounds"] >= 1 and row["tokens_spent"] <= cfg.budget.total_tokens
        for record in records:                      # the controller ran the fixed allocation every round
            np.testing.assert_allclose(record["allocation"], allocation)
        np.testing.assert_allclose([row["delta_s_points"][c] for c in caps], run.latest_state().profile)
        assert np.isfinite(row["delta_u"]) and row["delta_u"] == pytest.approx(row["dev_utility"] - row["dev_utility_0"])
    # every intervention starts from the same student: the same round-0 probe anchors (dev utility is the task's)
    a, b = (json.loads((out / f"interventions/{task}-000/normaliser.json").read_text()) for task in ("gsm8k", "mbpp"))
    dev_keys = {"dev_utility_0", "dev_task_0"}
    assert {k: v for k, v in a.items() if k not in dev_keys} == {k: v for k, v in b.items() if k not in dev_keys}

    assert {"identifier.pt", "identifier.json", "identify.json", "identify.md"} <= {p.name for p in out.iterdir()}
    table = {row["task"]: row for row in result["tasks"]}
    assert set(table) == {"gsm8k", "mbpp"}
    for row in table.values():
        assert sum(row["learned"].values()) == pytest.approx(1.0) and -1 <= row["cosine"] <= 1
    assert "| gsm8k | learned |" in (out / "identify.md").read_text()

    # a rerun reuses every intervention (nothing is trained again) and refits the same identifier
    again = run_identify(cfg, ["gsm8k", "mbpp"], 1, out, log=quiet)
    assert again["interventions"] == rows and again["tasks"] == result["tasks"]

    # a config naming the identifier: the controller's prepare uses the learned vector
    learned_cfg = validate(replace(cfg, run={"name": "learned"},
                                   task={"requirement_source": "learned", "identifier_path": str(out / "identifier.pt")}))
    run = RunDirectory.open(learned_cfg)
    shutil.copyfile(out / "interventions/gsm8k-000/normaliser.json", run.root / "normaliser.json")  # same anchors
    teacher = start_teacher(learned_cfg)
    try:
        setup, pool = prepare(learned_cfg, run, teacher, quiet)
        pool.shutdown()
    finally:
        stop_teacher()
    np.testing.assert_allclose(setup.requirement, [table["gsm8k"]["learned"][c] for c in caps], atol=1e-5)
