"""Capability prompt templates (read_ray.core.templates)."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from read_ray.config import CAPABILITIES
from read_ray.core.capability_pool import CapabilityPool, DrawResult
from read_ray.core.curriculum import (
    TIERS,
    USAGE_CAP_SHARE,
    USAGE_CAP_WINDOW,
    DifficultyScale,
    curriculum_mix,
    usage_allows,
)
from read_ray.core.leakage import LeakageFilter, normalise_prompt, prompt_sha256
from read_ray.core.prompts import Prompt, PromptSource
from read_ray.core.templates import Slot, Template, bundled_templates_dir, load_templates, templates_file

CAP_LIMIT = int(USAGE_CAP_SHARE * USAGE_CAP_WINDOW)  # 32 prompts per 128


def steps_template(source_id: str = "math/steps", low: int = 1, high: int = 60) -> Template:
    return Template(
        source_id=source_id,
        capability="math",
        text=f"Task {source_id}: add up {{n}} numbers chosen by {{who}} and explain each of the {{n}} steps.",
        slots=(Slot("n", "int", low, high), Slot("who", "choice", choices=("Ana", "Bo", "Cy"))),
        format_constraint="Answer with a single integer on the last line.",
        difficulty_factors=("n",),
        max_new_tokens=128,
    )


def pool_of(k: int, *, high: int = 60) -> CapabilityPool:
    return CapabilityPool("math", [steps_template(f"math/steps_{i}", 1, high) for i in range(k)])


# --------------------------------------------------------------------------------------------------
# Slots
# --------------------------------------------------------------------------------------------------


@given(low=st.integers(-1000, 1000), width=st.integers(0, 1000), seed=st.integers(0, 2**63))
def test_int_slot_samples_inside_its_inclusive_range(low: int, width: int, seed: int) -> None:
    value = Slot("n", "int", low, low + width).sample(random.Random(seed))
    assert isinstance(value, int)
    assert low <= value <= low + width


@given(low=st.floats(-1e6, 1e6), width=st.floats(0, 1e6), seed=st.integers(0, 2**32))
def test_float_slot_samples_are_rounded_to_two_decimals(low: float, width: float, seed: int) -> None:
    value = Slot("x", "float", low, low + width).sample(random.Random(seed))
    assert value == round(value, 2)
    assert low - 0.005 <= value <= low + width + 0.005


def test_choice_and_str_slots_sample_from_their_choices() -> None:
    rng = random.Random(0)
    assert {Slot("c", "choice", choices=("a", "b")).sample(rng) for _ in range(50)} == {"a", "b"}
    assert Slot("s", "str", choices=("only one",)).sample(rng) == "only one"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "n", "kind": "complex"}, "unknown kind 'complex'"),
        ({"name": "n", "kind": "int", "low": 1}, "needs both 'low' and 'high'"),
        ({"name": "n", "kind": "int", "low": 5, "high": 2}, "low=5 > high=2"),
        ({"name": "n", "kind": "int", "low": 1.5, "high": 2}, "not integral"),
        ({"name": "n", "kind": "float", "low": 0, "high": float("inf")}, "not a finite number"),
        ({"name": "n", "kind": "int", "low": 0, "high": 1, "choices": ("a",)}, "takes no 'choices'"),
        ({"name": "c", "kind": "choice"}, "needs a non-empty 'choices'"),
        ({"name": "c", "kind": "str", "low": 0, "choices": ("a",)}, "takes no 'low'/'high'"),
        ({"name": "c", "kind": "choice", "choices": ("a", "a")}, "duplicate values"),
        ({"name": "not valid", "kind": "choice", "choices": ("a",)}, "must be a Python identifier"),
        ({"name": "prompt_words", "kind": "int", "low": 0, "high": 1}, "reserved"),
    ],
)
def test_bad_slots_are_rejected_with_the_slot_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Slot(**kwargs)


# --------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------


def test_fill_is_deterministic_and_uses_a_local_generator() -> None:
    template = steps_template()
    random.seed(123)
    state = random.getstate()
    first = template.fill(42)
    assert random.getstate() == state  # the global generator is untouched
    assert template.fill(42) == first
    assert first.seed == 42
    assert len({template.fill(seed).text for seed in range(40)}) > 10


def test_fill_builds_text_factors_and_metadata() -> None:
    prompt = steps_template().fill(7)
    body, constraint = prompt.text.split("\n\n")
    assert constraint == "Answer with a single integer on the last line."
    n = dict(prompt.factors)["n"]
    assert body.startswith(f"Task math/steps: add up {int(n)} numbers chosen by ")
    assert (prompt.capability, prompt.source_id, prompt.max_new_tokens, prompt.answer) == (
        "math",
        "math/steps",
        128,
        None,
    )
    assert isinstance(prompt, Prompt)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prompt.text = "changed"  # type: ignore[misc]


def test_prompt_words_is_the_default_factor_and_counts_words() -> None:
    template = Template(
        source_id="general_knowledge/t",
        capability="general_knowledge",
        text="Tell me about {topic} please.",
        slots=(Slot("topic", "choice", choices=("the sea", "a very old mountain range")),),
        format_constraint="Be brief.",
    )
    assert template.difficulty_factors == ("prompt_words",)
    for seed in range(10):
        prompt = template.fill(seed)
        assert prompt.factors == (("prompt_words", float(len(prompt.text.split()))),)


def test_factors_are_sorted_by_name_and_format_specs_apply() -> None:
    template = Template(
        source_id="math/t",
        capability="math",
        text="Price {price:.2f}, {z_items} items, {a_tax}% tax.",
        slots=(Slot("price", "float", 1, 9), Slot("z_items", "int", 1, 9), Slot("a_tax", "int", 0, 20)),
        difficulty_factors=("z_items", "a_tax", "prompt_words"),
    )
    prompt = template.fill(3)
    assert [name for name, _ in prompt.factors] == ["a_tax", "prompt_words", "z_items"]
    assert re.match(r"Price \d\.\d\d, \d items, \d+% tax\.$", prompt.text)
    assert template.fill(3) == prompt
    with pytest.raises(TypeError, match="seed must be an int"):
        template.fill("3")  # type: ignore[arg-type]


def test_template_is_a_prompt_source() -> None:
    assert isinstance(steps_template(), PromptSource)


@pytest.mark.parametrize(
    ("text", "slots", "factors", "message"),
    [
        (
            "Hi {name} and {other}",
            (Slot("name", "choice", choices=("a",)),),
            (),
            "{other} is not a declared slot",
        ),
        ("Hi there", (Slot("name", "choice", choices=("a",)),), (), "slot 'name' is declared but not used"),
        ("Hi {}", (), (), "must be a slot name"),
        ("Hi {0}", (), (), "must be a slot name"),
        ("Hi {n.real}", (Slot("n", "int", 0, 1),), (), "must be a slot name"),
        ("Hi {n!r}", (Slot("n", "int", 0, 1),), (), "conversion"),
        ("Hi {n", (Slot("n", "int", 0, 1),), (), "malformed text"),
        ("Hi {n:d}", (Slot("n", "float", 0, 1),), (), "format spec 'd' of slot 'n'"),
        ("Hi {n}", (Slot("n", "int", 0, 1),), ("m",), "difficulty factor 'm' is not a slot"),
        ("Hi {c}", (Slot("c", "choice", choices=("a",)),), ("c",), "factor 'c' is a 'choice' slot"),
        ("Hi {n}", (Slot("n", "int", 0, 1),), ("n", "n"), "listed twice"),
        ("Hi {n}", (Slot("n", "int", 0, 1), Slot("n", "int", 0, 2)), (), "slot 'n' is declared twice"),
    ],
)
def test_template_errors_name_the_template_and_the_slot(text, slots, factors, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        Template(
            source_id="math/bad_one", capability="math", text=text, slots=slots, difficulty_factors=factors
        )
    assert "math/bad_one" in str(info.value)


def test_template_rejects_unknown_capability_and_bad_max_new_tokens() -> None:
    with pytest.raises(ValueError, match="invalid capability name 'Poetry!'"):
        Template(source_id="p/t", capability="Poetry!", text="x")
    with pytest.raises(ValueError, match="max_new_tokens=0"):
        Template(source_id="math/t", capability="math", text="x", max_new_tokens=0)


def test_literal_braces_survive_formatting() -> None:
    template = Template(
        source_id="code/t", capability="code", text='Return {{"k": {n}}}', slots=(Slot("n", "int", 1, 1),)
    )
    assert template.fill(0).text == 'Return {"k": 1}'


# --------------------------------------------------------------------------------------------------
# Template files
# --------------------------------------------------------------------------------------------------

GOOD = {
    "id": "math/add_chain",
    "capability": "math",
    "text": "Add {n} numbers.",
    "slots": {"n": {"kind": "int", "low": 2, "high": 9}},
    "format": "Answer with a single integer on the last line.",
    "difficulty": ["n"],
    "max_new_tokens": 256,
}


def write_lines(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_templates_skips_comments_and_blank_lines(tmp_path) -> None:
    minimal = {"id": "math/plain", "capability": "math", "text": "What is 2 + 2?"}
    path = write_lines(tmp_path, "math.jsonl", ["# header", "", json.dumps(GOOD), "   ", json.dumps(minimal)])
    first, second = load_templates(path)
    assert first == Template(
        source_id="math/add_chain",
        capability="math",
        text="Add {n} numbers.",
        slots=(Slot("n", "int", 2, 9),),
        format_constraint="Answer with a single integer on the last line.",
        difficulty_factors=("n",),
        max_new_tokens=256,
    )
    assert second.difficulty_factors == ("prompt_words",) and second.max_new_tokens is None


def _with(**changes) -> str:
    record = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    return json.dumps(record)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"id": "a", "id": "b", "capability": "math", "text": "x"}', "duplicate key 'id'"),
        ("[1, 2]", "expected a JSON object"),
        (_with(text=None), "missing key 'text'"),
        (_with(colour="red"), "unknown key 'colour'"),
        (_with(slots={"n": {"kind": "int", "low": 2}}), "needs both 'low' and 'high'"),
        (_with(slots={"n": {"kind": "int", "low": 2, "high": 3, "step": 1}}), "unknown key 'step'"),
        (_with(slots={"n": {"low": 2, "high": 3}}), "missing key 'kind'"),
        (_with(slots={"m": {"kind": "int", "low": 2, "high": 3}}), "{n} is not a declared slot"),
        (_with(difficulty=["nope"]), "difficulty factor 'nope'"),
        (_with(difficulty="n"), "'difficulty' must be a list"),
        (_with(max_new_tokens="many"), "'max_new_tokens' must be an integer"),
        (_with(capability="code"), "capability 'code' but the file is 'math.jsonl'"),
        (_with(), "duplicate template id 'math/add_chain' (first defined on line 2)"),
    ],
)
def test_load_errors_name_path_and_line(tmp_path, bad_line: str, message: str) -> None:
    path = write_lines(tmp_path, "math.jsonl", ["# comment", json.dumps(GOOD), bad_line])
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        load_templates(path)
    assert str(info.value).startswith(f"{path}:3: ")


def test_load_rejects_files_without_templates(tmp_path) -> None:
    path = write_lines(tmp_path, "code.jsonl", ["# only a comment"])
    with pytest.raises(ValueError, match="contains no templates"):
        load_templates(path)


def test_templates_file_paths_and_bad_capability_name(tmp_path) -> None:
    assert templates_file(tmp_path, "tool_use") == tmp_path / "tool_use.jsonl"
    assert templates_file(tmp_path, "cooking") == tmp_path / "cooking.jsonl"   # capabilities are configurable
    with pytest.raises(ValueError, match="invalid capability name '../etc'"):
        templates_file(tmp_path, "../etc")


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_bundled_templates_load_and_fill(capability: str) -> None:
    path = templates_file(bundled_templates_dir(), capability)
    templates = load_templates(path)
    assert 6 <= len(templates) <= 10
    assert any(t.difficulty_factors != ("prompt_words",) for t in templates), "needs real difficulty factors"
    for template in templates:
        assert template.source_id.startswith(f"{capability}/")
        assert template.format_constraint, f"{template.source_id} has no output-format constraint"
        texts = set()
        for seed in range(150):
            prompt = template.fill(seed)
            assert prompt.capability == capability and prompt.text.strip()
            body = prompt.text[: len(prompt.text) - len(template.format_constraint)]
            assert prompt.text.endswith("\n\n" + template.format_constraint)
            assert not re.search(r"\{[A-Za-z_][A-Za-z0-9_]*(:[^}]*)?\}", body), "unfilled placeholder"
            texts.add(prompt.text)
        assert len(texts) >= 3, f"{template.source_id} fills to fewer than 3 distinct prompts"


def test_bundled_multilingual_instructions_use_several_languages() -> None:
    templates = load_templates(templates_file(bundled_templates_dir(), "multilingual"))
    markers = {"es": "Responde en español", "fr": "Répondez en français", "de": "Antworte auf Deutsch"}
    for language, marker in markers.items():
        assert any(marker in t.format_constraint for t in templates), language


# --------------------------------------------------------------------------------------------------
# Difficulty
# --------------------------------------------------------------------------------------------------


def test_scores_are_monotone_in_an_int_difficulty_slot() -> None:
    template = steps_template()
    sample = [template.fill(seed) for seed in range(300)]
    scale = DifficultyScale.calibrate(sample)
    assert scale.factor_ranges == (("n", 1.0, 60.0),)
    by_n = sorted(sample, key=lambda p: dict(p.factors)["n"])
    scores = [scale.score(p) for p in by_n]
    assert scores == sorted(scores)
    assert scores[0] == 0.0 and scores[-1] == 1.0
    tiers = [scale.tier(p) for p in by_n]
    assert tiers == sorted(tiers, key=TIERS.index)  # easy ... medium ... hard in order of n


def test_calibration_tertiles_hold_about_a_third_each() -> None:
    template = Template(
        source_id="math/f",
        capability="math",
        text="Scale by {x}.",
        slots=(Slot("x", "float", 0, 100),),
        difficulty_factors=("x",),
    )
    sample = [template.fill(seed) for seed in range(600)]
    scale = DifficultyScale.calibrate(sample)
    shares = Counter(scale.tier(p) for p in sample)
    for tier in TIERS:
        assert 0.28 <= shares[tier] / len(sample) <= 0.39, shares


def test_score_clips_handles_constant_factors_and_rejects_unknown_ones() -> None:
    scale = DifficultyScale(factor_ranges=(("a", 0.0, 10.0), ("b", 3.0, 3.0)), cut_points=(0.3, 0.6))

    def prompt(*factors):
        return Prompt("math", "math/x", 0, "t", tuple(factors))

    assert scale.score(prompt(("a", 5.0))) == 0.5
    assert scale.score(prompt(("a", 20.0))) == 1.0
    assert scale.score(prompt(("a", -4.0))) == 0.0
    assert scale.score(prompt(("a", 10.0), ("b", 3.0))) == 0.75  # constant factor contributes 0.5
    assert [scale.tier(prompt(("a", v))) for v in (3.0, 3.01, 6.0, 6.01)] == [
        "easy",
        "medium",
        "medium",
        "hard",
    ]
    with pytest.raises(ValueError, match="factor 'c' of prompt from 'math/x'"):
        scale.score(prompt(("c", 1.0)))
    with pytest.raises(ValueError, match="empty prompt sample"):
        DifficultyScale.calibrate([])


# --------------------------------------------------------------------------------------------------
# Curriculum and usage cap
# --------------------------------------------------------------------------------------------------


def test_curriculum_mix_follows_method() -> None:
    assert curriculum_mix(0.1) == {"easy": 0.1, "medium": 0.8, "hard": 0.1}
    assert curriculum_mix(0.5) == {"easy": 0.1, "medium": 0.5, "hard": 0.4}
    assert curriculum_mix(0.9) == {"easy": 0.05, "medium": 0.2, "hard": 0.75}
    assert curriculum_mix(0.3) == curriculum_mix(0.0) and curriculum_mix(0.7) == curriculum_mix(0.5)
    assert curriculum_mix(1.0) == curriculum_mix(0.9)
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match="progress_frac"):
            curriculum_mix(bad)


@given(st.floats(0.0, 1.0))
def test_curriculum_mix_is_a_distribution(progress: float) -> None:
    mix = curriculum_mix(progress)
    assert tuple(mix) == TIERS
    assert sum(mix.values()) == pytest.approx(1.0)


def test_usage_cap_counts_against_the_full_window() -> None:
    assert usage_allows(["a"] * 31, "a")
    assert not usage_allows(["a"] * 32, "a")  # short history: still at most 32 of 128
    assert usage_allows(["a"] * 32, "b")
    assert usage_allows(["a"] * 32 + ["b"] * 96, "a")  # the oldest 'a' falls out of the window
    assert not usage_allows(["b"] * 96 + ["a"] * 32, "a")
    assert not usage_allows(["a"] * 200, "a") and usage_allows(["a"] * 200, "b")
    assert not usage_allows([], "a", max_share=0.5, window=1)
    assert usage_allows([], "a", max_share=1.0, window=1)
    with pytest.raises(ValueError, match="window"):
        usage_allows([], "a", window=0)
    with pytest.raises(ValueError, match="max_share"):
        usage_allows([], "a", max_share=0.0)


@given(
    history=st.lists(st.sampled_from("abc"), max_size=40),
    source=st.sampled_from("abc"),
    window=st.integers(1, 20),
    share=st.sampled_from([0.1, 0.25, 0.29, 0.5, 1.0]),
)
def test_usage_allows_matches_its_definition(history, source, window, share) -> None:
    after = ([*history, source])[-window:]
    expected = after.count(source) / window <= share + 1e-12
    assert usage_allows(history, source, max_share=share, window=window) == expected


# --------------------------------------------------------------------------------------------------
# Leakage filter
# --------------------------------------------------------------------------------------------------

PROBE = (
    "A farmer has seventeen sheep and all but nine run away through the broken gate at night; "
    "how many sheep does the farmer still have in the field?"
)


def test_normalisation_ignores_case_whitespace_punctuation_and_width() -> None:
    assert normalise_prompt("  Hello,\tWORLD!!  (again) ") == "hello world again"
    assert normalise_prompt("don't stop") == "don't stop"
    assert normalise_prompt("ＡＢＣ １２") == "abc 12"  # NFKC folds full-width forms
    assert prompt_sha256("Hello World") == prompt_sha256("hello,   world.")
    assert prompt_sha256("Hello World") != prompt_sha256("Hello Word")


def test_leakage_blocks_exact_prompt_modulo_case_and_whitespace() -> None:
    leakage = LeakageFilter([PROBE])
    assert len(leakage) == 1
    assert leakage.check(PROBE) == "exact"
    assert leakage.check("  " + PROBE.upper().replace(" ", "\n  ") + " ") == "exact"


def test_leakage_blocks_an_embedded_13_word_span_only() -> None:
    leakage = LeakageFilter([PROBE])
    words = PROBE.split()
    span13 = " ".join(words[5:18])
    span12 = " ".join(words[5:17])
    assert leakage.check(f"Please consider this: {span13}. Then explain.") == "ngram"
    assert leakage.check(f"Please consider this: {span12}. Then explain.") is None
    assert leakage.check("Write a haiku about a lighthouse in winter.") is None
    assert LeakageFilter().check(PROBE) is None and len(LeakageFilter()) == 0


def test_leakage_filter_is_immutable_and_validates() -> None:
    leakage = LeakageFilter([PROBE, PROBE.lower()], ngram=5)
    assert len(leakage) == 1  # the same normalised text once
    with pytest.raises(dataclasses.FrozenInstanceError):
        leakage.ngram = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="ngram"):
        LeakageFilter([PROBE], ngram=0)
    with pytest.raises(ValueError, match="not a single string"):
        LeakageFilter(PROBE)


# --------------------------------------------------------------------------------------------------
# Capability pool
# --------------------------------------------------------------------------------------------------


def test_pool_rejects_bad_sources() -> None:
    with pytest.raises(ValueError, match="no prompt sources"):
        CapabilityPool("math", [])
    with pytest.raises(ValueError, match="source 'math/steps' has capability 'math'"):
        CapabilityPool("code", [steps_template()])
    with pytest.raises(ValueError, match="duplicate source id 'math/steps'"):
        CapabilityPool("math", [steps_template(), steps_template()])
    with pytest.raises(ValueError, match="calibration_size=1"):
        CapabilityPool("math", [steps_template("math/a"), steps_template("math/b")], calibration_size=1)


def test_pool_calibrates_round_robin_and_deterministically() -> None:
    pool = pool_of(3)
    assert pool.capability == "math" and len(pool.sources) == 3
    assert pool.scale == pool_of(3).scale
    assert pool.scale.factor_ranges == (("n", 1.0, 60.0),)


def test_draw_is_deterministic_given_the_rng_seed() -> None:
    pool = pool_of(6)
    a = pool.draw(40, progress_frac=0.5, rng=np.random.default_rng(11))
    b = pool.draw(40, progress_frac=0.5, rng=np.random.default_rng(11))
    c = pool.draw(40, progress_frac=0.5, rng=np.random.default_rng(12))
    assert isinstance(a, DrawResult)
    assert a == b
    assert a.prompts != c.prompts
    assert len(a.prompts) == 40 and len({p.text for p in a.prompts}) == 40
    assert a.recent_source_ids == tuple(p.source_id for p in a.prompts)
    assert pool.draw(0, progress_frac=0.5, rng=np.random.default_rng(0)).prompts == ()


def test_draw_history_is_extended_and_trimmed_to_the_window() -> None:
    pool = pool_of(6)
    history = tuple(f"math/steps_{i % 6}" for i in range(120))
    result = pool.draw(30, progress_frac=0.2, rng=np.random.default_rng(0), recent_source_ids=history)
    assert len(result.recent_source_ids) == USAGE_CAP_WINDOW
    assert (
        result.recent_source_ids == (history + tuple(p.source_id for p in result.prompts))[-USAGE_CAP_WINDOW:]
    )


def _cap_holds(sequence: list[str], start: int) -> bool:
    for end in range(start, len(sequence)):
        window = sequence[max(0, end - USAGE_CAP_WINDOW + 1) : end + 1]
        if max(Counter(window).values()) > CAP_LIMIT:
            return False
    return True


@settings(max_examples=15, deadline=None)
@given(
    k=st.integers(4, 7),
    n=st.integers(1, 160),
    progress=st.sampled_from([0.1, 0.5, 0.9]),
    seed=st.integers(0, 2**32),
    history_len=st.integers(0, 130),
)
def test_draw_never_exceeds_the_usage_cap_in_any_window(k, n, progress, seed, history_len) -> None:
    pool = pool_of(k)
    history = [f"math/steps_{i % k}" for i in range(history_len)]  # round-robin: within the cap
    result = pool.draw(n, progress_frac=progress, rng=np.random.default_rng(seed), recent_source_ids=history)
    sequence = history + [p.source_id for p in result.prompts]
    assert len(result.prompts) == n
    assert _cap_holds(sequence, start=len(history))


def test_draw_counts_capped_candidates_and_fails_when_the_pool_is_too_small() -> None:
    pool = pool_of(3)  # 3 sources x 32 = 96 < 128: the cap cannot be met beyond 96 prompts
    result = pool.draw(96, progress_frac=0.5, rng=np.random.default_rng(1))
    assert result.capped_count > 0
    assert Counter(p.source_id for p in result.prompts) == {f"math/steps_{i}": CAP_LIMIT for i in range(3)}
    with pytest.raises(RuntimeError, match="too small for the usage cap"):
        pool.draw(97, progress_frac=0.5, rng=np.random.default_rng(1))


def test_draw_never_returns_a_blocked_prompt_and_counts_blocks() -> None:
    template = steps_template("math/small", 1, 4)  # 4 x 3 = 12 possible prompts
    pool = CapabilityPool("math", [template], calibration_size=64)
    planted = template.fill(5).text
    leakage = LeakageFilter([planted.upper()])
    blocked_total = 0
    for seed in range(30):
        result = pool.draw(4, progress_frac=0.5, rng=np.random.default_rng(seed), leakage=leakage)
        assert planted not in {p.text for p in result.prompts}
        blocked_total += result.blocked_count
    assert blocked_total > 0
    clean = [pool.draw(4, progress_frac=0.5, rng=np.random.default_rng(s)) for s in range(30)]
    assert any(planted in {p.text for p in r.prompts} for r in clean)
    assert all(r.blocked_count == 0 for r in clean)


def test_draw_fails_clearly_when_shared_boilerplate_is_blocked() -> None:
    template = Template(
        source_id="math/boiler",
        capability="math",
        text="Read the following instructions very carefully before you begin working on the task below. Add {n}.",
        slots=(Slot("n", "int", 1, 1000),),
    )
    probe = (
        "Probe 7: read the following instructions very carefully before you begin working on the task below!"
    )
    leakage = LeakageFilter([probe])
    assert leakage.check(template.fill(0).text) == "ngram"
    pool = CapabilityPool("math", [template])
    with pytest.raises(RuntimeError, match="8 blocked by the leakage filter"):
        pool.draw(
            1, progress_frac=0.5, rng=np.random.default_rng(0), leakage=leakage, max_attempts_per_prompt=8
        )


def test_harder_tiers_dominate_late_in_the_budget() -> None:
    pool = pool_of(6)
    early = Counter(
        pool.scale.tier(p) for p in pool.draw(120, progress_frac=0.1, rng=np.random.default_rng(3)).prompts
    )
    late = Counter(
        pool.scale.tier(p) for p in pool.draw(120, progress_frac=0.9, rng=np.random.default_rng(3)).prompts
    )
    assert early["medium"] / 120 > 0.6
    assert early["hard"] / 120 < 0.25
    assert late["hard"] / 120 > 0.6
    assert late["hard"] > early["hard"] and late["easy"] + late["medium"] < early["easy"] + early["medium"]


def test_draw_validates_its_arguments() -> None:
    pool = pool_of(4)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        pool.draw(1, progress_frac=0.5, rng=random.Random(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n=-1"):
        pool.draw(-1, progress_frac=0.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="progress_frac"):
        pool.draw(1, progress_frac=2.0, rng=np.random.default_rng(0))


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_bundled_pools_draw_a_curriculum_batch(capability: str) -> None:
    templates = load_templates(templates_file(bundled_templates_dir(), capability))
    pool = CapabilityPool(capability, templates)
    result = pool.draw(64, progress_frac=0.9, rng=np.random.default_rng(0))
    assert len({p.text for p in result.prompts}) == 64
    assert max(Counter(result.recent_source_ids).values()) <= CAP_LIMIT
    assert {pool.scale.tier(p) for p in result.prompts} <= set(TIERS)
