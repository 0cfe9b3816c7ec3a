"""Probe suites (read_ray.model.probes): construction, checkers, leakage, reference cache, scores, normaliser.

Mechanics use fake generate functions and a tiny random model; one test runs the real bundled teacher
for a few short greedy references (its own answers must be likelier under it than under a random model).
"""

from __future__ import annotations

import glob
import json
import math
import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import torch

from read_ray.config import CAPABILITIES
from read_ray.content.probe_items.checks import check_response
from read_ray.content.probe_items.common import CHECKERS, ProbeItem
from read_ray.content.probe_references import attach_references, references_path, teacher_profile_path
from read_ray.content.probe_suite import build_probe_suite, probe_prompts, probes_dir, suite_fingerprint
from read_ray.core.leakage import LeakageFilter
from read_ray.core.statistics import (
    MIN_NORMALISER_GAP,
    CapabilityScores,
    Normaliser,
    aggregate_scores,
    bootstrap_ci,
    fit_normaliser,
)
from read_ray.core.templates import bundled_templates_dir, load_templates
from read_ray.model.generation import generate_batch
from read_ray.model.loading import (
    BUNDLED_TEACHER,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
)
from read_ray.model.probes import probe_generate_fn, profile_scores, score_items

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def suite():
    return build_probe_suite(CAPABILITIES)



@pytest.fixture(scope="module")
def tiny(teacher_dir, tmp_path_factory):
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", tokenizer_source=teacher_dir, seed=11)
    return load_causal_lm(path), load_tokenizer(path)


def all_items(suite):
    return [item for items in suite.values() for item in items]


# ----------------------------------------------------------------------------------------------------------
# Construction


def test_suite_sizes_ids_and_determinism(suite):
    assert list(suite) == list(CAPABILITIES)
    items = all_items(suite)
    assert all(len(suite[cap]) == 32 for cap in CAPABILITIES)
    assert len({i.item_id for i in items}) == len(items)
    assert len({i.prompt for i in items}) == len(items)
    for cap, cap_items in suite.items():
        assert all(i.capability == cap and i.item_id.startswith(f"{cap}/") for i in cap_items)
        checked = [i for i in cap_items if i.checker is not None]
        assert len(checked) >= 16, f"{cap}: most probes should be verifiable"
        assert any(i.checker is None for i in cap_items), f"{cap}: probe templates are used too"
        assert all(i.reference is None for i in cap_items)
    assert {i.checker for i in items} == set(CHECKERS) | {None}
    again = build_probe_suite(CAPABILITIES)
    assert again == suite and suite_fingerprint(again) == suite_fingerprint(suite)
    other = build_probe_suite(CAPABILITIES, seed=1)
    assert suite_fingerprint(other) != suite_fingerprint(suite)
    assert sum(a.prompt != b.prompt for a, b in zip(all_items(other), items, strict=True)) > len(items) // 2
    # Item i does not depend on the suite size; ids are stable.
    longer = build_probe_suite(["math", "code"], items_per_capability=40)
    assert longer["math"][:32] == suite["math"] and longer["code"][:32] == suite["code"]
    assert [i.item_id for i in build_probe_suite(["math"], items_per_capability=3)["math"]] == [
        "math/000-arith",
        "math/001-equation",
        "math/002-template",
    ]
    assert probe_prompts(suite) == [i.prompt for i in items]


def test_long_context_and_multilingual_coverage(suite):
    words = [len(i.prompt.split()) for i in suite["long_context"] if i.checker is not None]
    assert max(words) > 1000 and max(words) < 2000
    langs = {"es": "Responde", "fr": "Répondez", "de": "Antworte", "it": "Rispondi", "pt": "Responda"}
    seen = {lang for lang, marker in langs.items() if any(marker in i.prompt for i in suite["multilingual"])}
    assert len(seen) >= 3


def test_a_leakage_filter_redraws_blocked_prompts(suite):
    # Blocking a template item's prompt blocks every fill of that template (they share 13-grams).
    blocked = suite["general_knowledge"][2]
    assert blocked.checker is None
    clean = build_probe_suite(CAPABILITIES, leakage_filter=LeakageFilter([blocked.prompt]))
    assert blocked.prompt not in probe_prompts(clean)
    assert clean["general_knowledge"][2].item_id == blocked.item_id
    assert clean["math"] == suite["math"] and clean["code"] == suite["code"]
    with pytest.raises(ValueError, match="leakage filter"):
        build_probe_suite(["math"], items_per_capability=2, leakage_filter=LeakageFilter(["the x"], ngram=1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="no probes for capability"):
        build_probe_suite(["juggling"])
    with pytest.raises(ValueError):
        build_probe_suite(["math"], items_per_capability=0)
    with pytest.raises(TypeError):
        build_probe_suite("math")
    with pytest.raises(ValueError):
        ProbeItem(capability="math", item_id="x", prompt="p", checker="vibes")


def test_custom_capability_uses_its_template_file(tmp_path):
    (tmp_path / "juggling.jsonl").write_text(
        json.dumps(
            {
                "id": "juggling/probe_a",
                "capability": "juggling",
                "text": "How do you juggle {n} balls?",
                "slots": {"n": {"kind": "int", "low": 3, "high": 9}},
            }
        )
        + "\n"
    )
    got = build_probe_suite(["juggling"], items_per_capability=4, templates_dir=tmp_path)["juggling"]
    assert len(got) == 4 and all(i.checker is None for i in got)
    with pytest.raises(ValueError, match="no probe templates"):
        build_probe_suite(["math"], templates_dir=tmp_path)


# ----------------------------------------------------------------------------------------------------------
# Checkers: each item accepts a known-correct answer and rejects a wrong one

_FILLER = (
    "Morning light reaches the hills.",
    "Old friends meet by the river.",
    "Bread cools on the sill.",
    "A bell rings twice at noon.",
    "Rain taps on the tin roof.",
)


def compliant_text(instructions) -> str:
    """A response that follows every IFEval instruction our builder combines."""
    spec = dict((i, k) for i, k in instructions)
    extra = []
    if "keywords:existence" in spec:
        extra.append("Words to keep: " + " and ".join(spec["keywords:existence"]["keywords"]) + ".")
    if "keywords:frequency" in spec:
        kw = spec["keywords:frequency"]
        extra.append(" ".join([kw["keyword"]] * kw["frequency"]) + ".")
    if "detectable_content:number_placeholders" in spec:
        extra.append(
            " ".join(
                f"[field{k}]"
                for k in range(spec["detectable_content:number_placeholders"]["num_placeholders"])
            )
        )
    units = list(_FILLER)
    units[0] = " ".join([units[0], *extra])
    if "length_constraints:number_paragraphs" in spec:
        body = "\n***\n".join(units[: spec["length_constraints:number_paragraphs"]["num_paragraphs"]])
    elif "detectable_format:number_bullet_lists" in spec:
        body = "\n".join(
            "* " + u for u in units[: spec["detectable_format:number_bullet_lists"]["num_bullets"]]
        )
    elif "detectable_format:multiple_sections" in spec:
        n = spec["detectable_format:multiple_sections"]["num_sections"]
        body = "\n".join(f"PART {k + 1}\n{units[k]}" for k in range(n))
    else:
        n = spec["detectable_format:number_highlighted_sections"]["num_highlights"]
        body = units[0] + " " + " ".join(f"*point {k}*" for k in range(n))
    if "detectable_format:title" in spec:
        body = "<<Quiet Days>>\n" + body
    if "detectable_content:postscript" in spec:
        body += "\nP.P.S. One more note."
    if "startend:end_checker" in spec:
        body += "\n" + spec["startend:end_checker"]["end_phrase"]
    return body


_JSON_VALUES = {"string": "Orbit", "integer": 3, "number": 2.5, "boolean": True, "array": ["a", "b"]}


def right_and_wrong(item: ProbeItem) -> tuple[str, str]:
    data = item.checker_data
    if item.checker == "number":
        return f"Working it out step by step.\n{data['answer']}", f"Hmm.\n{Decimal(data['answer']) + 1}"
    if item.checker == "contains":
        words = [n if isinstance(n, str) else n[0] for n in data["needles"]]
        return f"It is {' and '.join(words)}.", "I am not sure about that."
    if item.checker == "json":
        obj = {k: _JSON_VALUES[t] for k, t in data["keys"].items()}
        wrong = dict(obj)
        wrong.pop(next(iter(wrong)))
        return json.dumps(obj), json.dumps(wrong)
    if item.checker == "tool_call":
        ((name, spec),) = data["possible_answer"].items()
        args = {k: v[0] for k, v in spec.items() if "" not in v}
        args.update({k: v[1] for k, v in spec.items() if "" in v and len(v) > 1 and v[0] == ""})
        right = json.dumps({"name": name, "arguments": args})
        wrong_args = dict(args)
        wrong_args.pop(next(k for k, v in spec.items() if "" not in v))
        return f"```json\n{right}\n```", json.dumps({"name": name, "arguments": wrong_args})
    if item.checker == "code":
        wrong = f"```python\ndef {data['entry_point']}(*args):\n    return None\n```"
        return f"Here it is:\n```python\n{data['solution']}```\nDone.", wrong
    if item.checker == "instructions":
        return compliant_text(data["instructions"]), "I cannot help with that."
    raise AssertionError(item.checker)


def test_every_checker_accepts_a_right_answer_and_rejects_a_wrong_one(suite):
    checked = [i for i in all_items(suite) if i.checker is not None]
    for item in checked:
        right, wrong = right_and_wrong(item)
        assert check_response(item, right), (item.item_id, right)
        assert not check_response(item, wrong), (item.item_id, wrong)
    with pytest.raises(ValueError, match="no checker"):
        check_response(next(i for i in all_items(suite) if i.checker is None), "text")


def test_specific_instruction_and_answer_checks():
    def item(checker, data):
        return ProbeItem(
            capability="steerability", item_id="t", prompt="p", checker=checker, checker_data=data
        )

    no_comma = item("instructions", {"instructions": [["punctuation:no_comma", {}]]})
    assert check_response(no_comma, "Fine words only.") and not check_response(no_comma, "Yes, no.")
    ending = item("instructions", {"instructions": [["startend:end_checker", {"end_phrase": "The end."}]]})
    assert check_response(ending, "A tale.\nThe end.") and not check_response(ending, "The end. More.")
    # The punkt substitute: IFEval's sentence counter works offline.
    sentences = item(
        "instructions",
        {
            "instructions": [
                ["length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}]
            ]
        },
    )
    assert check_response(sentences, "One. Two.") and not check_response(sentences, "One. Two. Three. Four.")
    accents = item("contains", {"needles": [["Tóquio", "Tokyo"]]})
    assert check_response(accents, "A capital é TOQUIO.") and not check_response(accents, "Tokyoite")
    tool = item("tool_call", {"possible_answer": {"f": {"a": [1], "b": ["", "x"]}}})
    assert check_response(tool, "f(a=1)") and check_response(
        tool, '{"name": "f", "arguments": {"a": 1, "b": "x"}}'
    )
    assert not check_response(tool, "[f(a=1), f(a=1)]") and not check_response(tool, "f(a=2)")


# ----------------------------------------------------------------------------------------------------------
# Leakage: probe prompts are disjoint from the generation templates by construction


def test_no_probe_prompt_shares_a_13_gram_with_generation_templates(suite):
    files = sorted(glob.glob(str(bundled_templates_dir() / "*.jsonl")))
    assert len(files) == 8
    fills = [t.fill(seed).text for f in files for t in load_templates(f) for seed in range(200)]
    leak = LeakageFilter(fills, ngram=13)
    leaked = [(i.item_id, leak.check(i.prompt)) for i in all_items(suite) if leak.check(i.prompt)]
    assert leaked == []
    # The probe templates themselves are separate files, one per capability.
    assert sorted(p.stem for p in probes_dir().glob("*.jsonl")) == sorted(CAPABILITIES)
    probe_ids = {t.source_id for p in probes_dir().glob("*.jsonl") for t in load_templates(p)}
    generation_ids = {t.source_id for f in files for t in load_templates(f)}
    assert not probe_ids & generation_ids


# ----------------------------------------------------------------------------------------------------------
# Teacher references


class FakeTeacher:
    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, prompts):
        self.calls.append(list(prompts))
        return [f"answer to: {p[:20]}" for p in prompts]


def test_attach_references_generates_once_and_caches(tmp_path):
    small = build_probe_suite(["math", "code"], items_per_capability=4)
    fake = FakeTeacher()
    first = attach_references(small, fake, tmp_path, teacher_id="org/Teacher Model:v1")
    assert len(fake.calls) == 1 and len(fake.calls[0]) == 8
    assert all(i.reference == f"answer to: {i.prompt[:20]}" for i in all_items(first))
    path = references_path(small, tmp_path, teacher_id="org/Teacher Model:v1")
    assert path.is_file() and path.parent.parent == tmp_path and path.stem == suite_fingerprint(small)
    assert "/" not in path.parent.name and ":" not in path.parent.name and " " not in path.parent.name
    second = attach_references(small, fake, tmp_path, teacher_id="org/Teacher Model:v1")
    assert len(fake.calls) == 1 and second == first
    # The fingerprint ignores references: a suite with references attached finds the same cache.
    assert suite_fingerprint(first) == suite_fingerprint(small)
    assert attach_references(first, fake, tmp_path, teacher_id="org/Teacher Model:v1") == first
    # Another teacher gets its own cache.
    attach_references(small, fake, tmp_path, teacher_id="other")
    assert len(fake.calls) == 2
    # Only missing items are regenerated.
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")
    attach_references(small, fake, tmp_path, teacher_id="org/Teacher Model:v1")
    assert len(fake.calls) == 3 and len(fake.calls[-1]) == 2
    # A corrupt file is rebuilt.
    path.write_text("not json\n")
    assert attach_references(small, fake, tmp_path, teacher_id="org/Teacher Model:v1") == first
    assert len(fake.calls) == 4 and len(fake.calls[-1]) == 8
    # A larger suite of the same teacher reuses the smaller one's items: only the new ones are generated.
    larger = build_probe_suite(["math", "code"], items_per_capability=6)
    assert suite_fingerprint(larger) != suite_fingerprint(small)
    grown = attach_references(larger, fake, tmp_path, teacher_id="org/Teacher Model:v1")
    assert len(fake.calls) == 5 and sorted(fake.calls[-1]) == sorted(
        i.prompt for i in all_items(larger) if int(i.item_id.split("/")[1][:3]) >= 4
    )
    assert {i.item_id: i.reference for i in all_items(first)}.items() <= {i.item_id: i.reference for i in all_items(grown)}.items()
    # Another seed's suite has the same item ids but other prompts: those are generated anew.
    reseeded = build_probe_suite(["math", "code"], items_per_capability=4, seed=7)
    attach_references(reseeded, fake, tmp_path, teacher_id="org/Teacher Model:v1")
    known = {i.prompt for i in all_items(larger)}
    assert len(fake.calls) == 6 and sorted(fake.calls[-1]) == sorted(i.prompt for i in all_items(reseeded) if i.prompt not in known)
    assert len(fake.calls[-1]) >= 6


def test_attach_references_writes_atomically(tmp_path, monkeypatch):
    small = build_probe_suite(["reasoning"], items_per_capability=3)
    path = references_path(small, tmp_path, teacher_id="t")

    def failing(prompts):
        raise RuntimeError("teacher crashed")

    with pytest.raises(RuntimeError):
        attach_references(small, failing, tmp_path, teacher_id="t")
    assert not path.exists()
    attach_references(small, FakeTeacher(), tmp_path, teacher_id="t")
    before = path.read_bytes()
    path.write_text(before.decode().splitlines()[0] + "\n")  # header only: everything must be regenerated

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        attach_references(small, FakeTeacher(), tmp_path, teacher_id="t")
    assert path.read_text() == before.decode().splitlines()[0] + "\n"  # the old file is untouched
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    with pytest.raises(ValueError):
        attach_references(small, lambda ps: ["only one"], tmp_path / "x", teacher_id="t")


# ----------------------------------------------------------------------------------------------------------
# Scores


def test_teacher_references_are_likelier_under_the_teacher_than_a_random_model(teacher_dir, tiny, tmp_path):
    teacher, tok = load_causal_lm(teacher_dir), load_tokenizer(teacher_dir)
    small = build_probe_suite(["general_knowledge", "math"], items_per_capability=2)

    def short_teacher(prompts):
        return [c.text for c in generate_batch(teacher, tok, prompts, max_new_tokens=8)]

    with_refs = attach_references(small, short_teacher, tmp_path, teacher_id=BUNDLED_TEACHER)
    items = all_items(with_refs)
    assert all(i.reference.strip() for i in items)
    teacher_scores = profile_scores(teacher, tok, with_refs, bootstrap_samples=200)
    tiny_scores = profile_scores(*tiny, with_refs, bootstrap_samples=200)
    for cap in with_refs:
        assert teacher_scores.raw[cap] > -2.5 > -8.0 > tiny_scores.raw[cap]
        assert teacher_scores.n[cap] == tiny_scores.n[cap] == 2
        lo, hi = teacher_scores.ci[cap]
        assert lo <= teacher_scores.raw[cap] <= hi
    under_tiny, _ = score_items(*tiny, items, scorer="teacher_loglik")
    assert tiny_scores.raw["math"] == pytest.approx(np.mean(under_tiny[2:4]), abs=1e-4)
    assert teacher_scores.probe_tokens == tiny_scores.probe_tokens > sum(len(i.prompt.split()) for i in items)
    norm = fit_normaliser(tiny_scores, teacher_scores)
    assert norm(tiny_scores.raw) == pytest.approx({c: 0.0 for c in with_refs})
    assert norm(teacher_scores.raw) == pytest.approx({c: 100.0 for c in with_refs})
    with pytest.raises(ValueError, match="references"):
        score_items(teacher, tok, all_items(small), scorer="teacher_loglik")


def test_accuracy_scorer_skips_items_without_a_checker(tiny):
    model, tok = tiny
    small = build_probe_suite(["math", "tool_use"], items_per_capability=8)
    items = all_items(small)
    sent: list[str] = []

    def oracle(prompts):
        sent.extend(prompts)
        by_prompt = {i.prompt: i for i in items}
        return [right_and_wrong(by_prompt[p])[0] for p in prompts]

    scores, _ = score_items(model, tok, items, scorer="accuracy", generate_fn=oracle)
    for item, score in zip(items, scores, strict=True):
        assert math.isnan(score) if item.checker is None else score == 1.0
    assert set(sent) == {i.prompt for i in items if i.checker is not None}
    result = profile_scores(model, tok, small, scorer="accuracy", generate_fn=oracle, bootstrap_samples=50)
    assert result.raw == {"math": 1.0, "tool_use": 1.0}
    assert result.n == {c: sum(i.checker is not None for i in small[c]) for c in small}
    assert result.probe_tokens > 0
    # Sharded scoring (probe actors) aggregates to the same report.
    parts = [
        score_items(model, tok, items[k::2], scorer="accuracy", generate_fn=oracle) for k in (0, 1)
    ]
    by_id = {
        i.item_id: sc for k, (scs, _) in enumerate(parts) for i, sc in zip(items[k::2], scs, strict=True)
    }
    merged = aggregate_scores(small, by_id, sum(t for _, t in parts), bootstrap_samples=50)
    assert merged == result
    with pytest.raises(ValueError, match="no score"):
        aggregate_scores(small, dict(list(by_id.items())[:-1]), 0)
    with pytest.raises(ValueError, match="generate_fn"):
        score_items(model, tok, items, scorer="accuracy")
    with pytest.raises(ValueError, match="scorer"):
        score_items(model, tok, items, scorer="bleu")
    # Through the real generation path (tiny model, tiny budgets): exact token counts from Completions.
    cheap = [ProbeItem(**{**i.spec(), "max_new_tokens": 3}) for i in small["math"][:3]]
    gen = probe_generate_fn(model, tok, cheap, batch_size=2)
    completions = gen([i.prompt for i in cheap])
    assert [c.completion_tokens for c in completions] == [3, 3, 3]
    scored = profile_scores(
        model, tok, {"math": tuple(cheap)}, scorer="accuracy", generate_fn=gen, bootstrap_samples=10
    )
    checked = [c for i, c in zip(cheap, completions, strict=True) if i.checker is not None]
    assert scored.probe_tokens == sum(c.prompt_tokens + c.completion_tokens for c in checked)
    assert scored.raw["math"] == 0.0


def test_bootstrap_ci_contains_the_mean_and_narrows_with_more_items():
    rng = np.random.default_rng(0)
    widths = []
    for n in (16, 64, 256):
        values = rng.normal(-2.0, 1.0, size=n)
        lo, hi = bootstrap_ci(values, samples=1000, seed=3)
        assert lo <= values.mean() <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert bootstrap_ci([0.0, 1.0, 1.0, 0.0], seed=1) == bootstrap_ci([0.0, 1.0, 1.0, 0.0], seed=1)
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in bootstrap_ci([float("nan")]))
    assert bootstrap_ci([1.0, float("nan"), 3.0], samples=0) == (2.0, 2.0)


def test_normaliser_maps_student0_to_0_and_teacher_to_100():
    caps = ("math", "code", "tool_use")
    student0 = CapabilityScores(
        raw={"math": -3.0, "code": 0.2, "tool_use": 0.5},
        ci={"math": (-3.2, -2.8), "code": (0.1, 0.3), "tool_use": (0.4, 0.6)},
        n=dict.fromkeys(caps, 32),
        probe_tokens=100,
    )
    teacher = CapabilityScores(
        raw={"math": -1.0, "code": 0.6, "tool_use": 0.5},
        ci=student0.ci,
        n=dict.fromkeys(caps, 32),
        probe_tokens=100,
    )
    norm = fit_normaliser(student0, teacher)
    assert norm(student0.raw) == pytest.approx({"math": 0.0, "code": 0.0, "tool_use": 0.0})
    assert norm(teacher.raw)["math"] == pytest.approx(100.0) and norm(teacher.raw)["code"] == pytest.approx(
        100.0
    )
    assert norm({"math": -2.0})["math"] == pytest.approx(50.0)
    assert norm.ci({"math": (-3.2, -2.8)})["math"] == pytest.approx(10.0)
    # Teacher level with the student: the floor keeps the scale finite and increasing.
    assert norm.high["tool_use"] == pytest.approx(0.5 + MIN_NORMALISER_GAP)
    assert norm({"tool_use": 0.5 + MIN_NORMALISER_GAP})["tool_use"] == pytest.approx(100.0)
    assert Normaliser.from_dict(json.loads(json.dumps(norm.to_dict()))) == norm
    assert CapabilityScores.from_dict(json.loads(json.dumps(student0.to_dict()))) == student0
    with pytest.raises(ValueError):
        Normaliser(low={"math": 1.0}, high={"math": 1.0})
    with pytest.raises(KeyError):
        norm({"reasoning": 1.0})
    nan_case = fit_normaliser(
        CapabilityScores({"x": math.nan}, {"x": (math.nan, math.nan)}, {"x": 0}, 0),
        CapabilityScores({"x": 0.5}, {"x": (0.4, 0.6)}, {"x": 8}, 0),
    )
    assert math.isnan(nan_case({"x": 0.3})["x"])


def test_probe_template_files_load(tmp_path):
    for path in sorted(Path(probes_dir()).glob("*.jsonl")):
        templates = load_templates(path)
        assert templates and all(t.source_id.startswith(f"{path.stem}/probe_") for t in templates)


@pytest.mark.parametrize("seed", [0, 1, 2])   # the preset's own seed, and `compare`'s default seeds 0,1,2
def test_shipped_references_are_the_default_presets_and_seed_an_empty_cache(tmp_path, monkeypatch, seed):
    """A first `default` run (of any seed `compare` uses by default) finds its references and teacher
    profile in the cache without generating them: the shipped files sit at exactly the path the run
    computes (suite fingerprint, teacher id), hold one non-empty reference per probe item, and never
    overwrite a file already cached."""
    from read_ray.config import load_config
    from read_ray.content.probe_references import SHIPPED_REFERENCES_DIR, reference_id
    from read_ray.model.probes import probe_references_dir

    cfg = load_config("default", [f"run.seed={seed}"])
    monkeypatch.setenv("READ_RAY_CACHE", str(tmp_path))
    suite = build_probe_suite(cfg.capabilities.names, items_per_capability=cfg.probes.items_per_capability,
                              seed=cfg.run.seed)
    path = references_path(suite, probe_references_dir(), teacher_id=reference_id(cfg))
    assert path.is_relative_to(tmp_path) and path.is_file(), \
        f"regenerate: run `default` with run.seed={seed} on an empty READ_RAY_CACHE"
    profile = teacher_profile_path(path, scorer=cfg.probes.scorer,
                                   bootstrap_samples=cfg.probes.bootstrap_samples, seed=cfg.run.seed)
    assert profile.is_file()
    calls = []
    attached = attach_references(suite, lambda prompts: calls.append(prompts) or ["x"] * len(prompts), path.parents[1],
                                 teacher_id=reference_id(cfg))
    assert calls == []
    assert all(item.reference.strip() for items in attached.values() for item in items)
    shipped = SHIPPED_REFERENCES_DIR / path.relative_to(path.parents[1])
    assert path.read_bytes() == shipped.read_bytes()
    profile.write_text("{}")
    probe_references_dir()
    assert profile.read_text() == "{}"
