"""Generation prompt pools (read_ray.content.pools) and procedural generators (read_ray.content.generators)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from read_ray.config import CAPABILITIES
from read_ray.content import generators as gen
from read_ray.content.generators import knowledge_tables
from read_ray.content.pools import build_generation_pools, count_distinct_prompts, generation_sources
from read_ray.core.capability_pool import CapabilityPool
from read_ray.core.leakage import LeakageFilter
from read_ray.core.prompts import Prompt, PromptSource
from read_ray.core.templates import Template

ALL_GENERATORS = tuple(g for cap in CAPABILITIES for g in gen.default_generators(cap))
GENERATOR_IDS = [g.source_id for g in ALL_GENERATORS]
# Sources that do not know a reference answer (open-ended writing or translation).
NO_ANSWER = (gen.TranslationSource, gen.CompareSource, gen.ExplainSource)


def _by_id(source_id: str):
    return next(g for g in ALL_GENERATORS if g.source_id == source_id)


@pytest.fixture(scope="module")
def pools() -> dict[str, CapabilityPool]:
    start = time.perf_counter()
    built = build_generation_pools(CAPABILITIES)
    elapsed = time.perf_counter() - start
    print(f"\nbuild_generation_pools(8 capabilities): {elapsed:.2f} s")
    assert elapsed < 30.0, f"building the 8 pools took {elapsed:.1f} s"
    return built


# --------------------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------------------


def test_every_capability_has_templates_and_generators():
    for cap in CAPABILITIES:
        sources = generation_sources(cap)
        assert any(isinstance(s, Template) for s in sources), cap
        assert any(not isinstance(s, Template) for s in sources), cap
        assert all(isinstance(s, PromptSource) and s.capability == cap for s in sources)
        assert len({s.source_id for s in sources}) == len(sources)


def test_every_pool_yields_1000_distinct_prompts_in_3000_fills(pools):
    start = time.perf_counter()
    counts = {cap: count_distinct_prompts(pool, attempts=3000, seed=0) for cap, pool in pools.items()}
    elapsed = time.perf_counter() - start
    print(
        f"\ndistinct prompts in 3000 fills: {counts} ({elapsed / (3000 * len(pools)) * 1e3:.3f} ms per fill)"
    )
    assert set(counts) == set(CAPABILITIES)
    for cap, n in counts.items():
        assert n >= 1000, f"{cap}: only {n} distinct prompts"
    assert elapsed / (3000 * len(pools)) < 1e-3  # well under a millisecond per fill on average


def test_count_distinct_prompts_accepts_sources_and_checks_arguments():
    source = _by_id("math/rg_chain_sum")
    assert count_distinct_prompts(source, attempts=50) == count_distinct_prompts([source], attempts=50) > 40
    with pytest.raises(ValueError):
        count_distinct_prompts([], attempts=10)
    with pytest.raises(ValueError):
        count_distinct_prompts(source, attempts=0)


def test_draw_64_follows_the_curriculum_in_every_pool(pools):
    for cap, pool in pools.items():
        early = pool.draw(64, progress_frac=0.1, rng=np.random.default_rng(1))
        late = pool.draw(64, progress_frac=0.9, rng=np.random.default_rng(2))
        for result in (early, late):
            assert len(result.prompts) == 64 and len({p.text for p in result.prompts}) == 64, cap
            assert all(p.capability == cap for p in result.prompts)
        hard_early = sum(pool.scale.tier(p) == "hard" for p in early.prompts)
        hard_late = sum(pool.scale.tier(p) == "hard" for p in late.prompts)
        assert hard_late > hard_early + 16, f"{cap}: hard {hard_early} -> {hard_late}"
        mean_early = np.mean([pool.scale.score(p) for p in early.prompts])
        mean_late = np.mean([pool.scale.score(p) for p in late.prompts])
        assert mean_late > mean_early, cap
        # the usage cap holds: no source above 25% of the 128 prompts drawn
        ids = [p.source_id for p in early.prompts + late.prompts]
        assert max(ids.count(i) for i in set(ids)) <= 32, cap


def test_unknown_capability_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="astrology"):
        generation_sources("astrology")
    with pytest.raises(ValueError, match="astrology"):
        build_generation_pools(["astrology"], templates_dir=str(tmp_path))


def test_custom_templates_dir(tmp_path):
    record = {
        "id": "poetry/haiku",
        "capability": "poetry",
        "text": "Write {n} haiku about the sea.",
        "slots": {"n": {"kind": "int", "low": 1, "high": 5}},
        "difficulty": ["n"],
    }
    (tmp_path / "poetry.jsonl").write_text(json.dumps(record) + "\n")
    math_record = {
        "id": "math/custom",
        "capability": "math",
        "text": "What is {a} + {a}?",
        "slots": {"a": {"kind": "int", "low": 1, "high": 99}},
    }
    (tmp_path / "math.jsonl").write_text(json.dumps(math_record) + "\n")
    assert [s.source_id for s in generation_sources("poetry", templates_dir=tmp_path)] == ["poetry/haiku"]
    math_sources = generation_sources("math", templates_dir=str(tmp_path))
    assert math_sources[0].source_id == "math/custom" and len(math_sources) > 10
    # the bundled math templates are not mixed in
    assert not any(s.source_id == "math/arithmetic_series" for s in math_sources)
    built = build_generation_pools(["poetry"], templates_dir=tmp_path, calibration_size=8)
    assert built["poetry"].draw(3, progress_frac=0.5, rng=np.random.default_rng(0)).prompts


def test_long_context_max_words_reaches_the_generators():
    sources = generation_sources("long_context", long_context_max_words=400)
    docs = [s for s in sources if isinstance(s, gen.LongDocumentSource)]
    assert len(docs) == 3 and all(s.max_words == 400 for s in docs)


# --------------------------------------------------------------------------------------------------
# Every generator: determinism, splits, factors, answers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ALL_GENERATORS, ids=GENERATOR_IDS)
def test_generator_is_deterministic_and_split_dependent(source):
    assert isinstance(source, PromptSource)
    probe = dataclasses.replace(source, split="probe")
    differing = 0
    for seed in (0, 1, 12345, 2**62 + 7):
        first, again = source.fill(seed), source.fill(seed)
        assert first == again
        assert isinstance(first, Prompt) and first.seed == seed and first.source_id == source.source_id
        differing += probe.fill(seed).text != first.text
    assert differing >= 3, f"{source.source_id}: train and probe streams coincide"
    assert len({source.fill(seed).text for seed in range(20)}) >= 15


@pytest.mark.parametrize("source", ALL_GENERATORS, ids=GENERATOR_IDS)
def test_generator_factors_are_present_and_vary(source):
    prompts = [source.fill(seed) for seed in range(40)]
    names = {tuple(name for name, _ in p.factors) for p in prompts}
    assert len(names) == 1 and next(iter(names)), f"{source.source_id}: factor names {names}"
    values = {name: {dict(p.factors)[name] for p in prompts} for name in next(iter(names))}
    assert any(len(v) > 1 for v in values.values()), f"{source.source_id}: constant factors {values}"
    if isinstance(source, NO_ANSWER):
        assert all(p.answer is None for p in prompts)
    else:
        assert all(isinstance(p.answer, str) and p.answer.strip() for p in prompts), source.source_id


_FINGERPRINT = """
import hashlib, json, sys
from read_ray.config import CAPABILITIES
from read_ray.content.generators import default_generators
out = {}
for cap in CAPABILITIES:
    for g in default_generators(cap):
        prompts = [g.fill(seed * 7919 + 3) for seed in range(8)]
        out[g.source_id] = hashlib.sha256(repr([(p.text, p.factors, p.answer) for p in prompts]).encode()).hexdigest()
print(json.dumps(out))
"""


def test_generators_are_reproducible_across_processes():
    """Same prompts under different hash seeds (no set-order or id() dependence, also inside reasoning_gym)."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _FINGERPRINT],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == set(GENERATOR_IDS)


def test_split_must_be_named():
    with pytest.raises(ValueError):
        gen.ToolSchemaSource(source_id="tool_use/x", split="")
    with pytest.raises(TypeError):
        _by_id("math/word_problem").fill("7")


# --------------------------------------------------------------------------------------------------
# Hand-checked answers
# --------------------------------------------------------------------------------------------------


def test_reasoning_gym_arithmetic_answers():
    chain = _by_id("math/rg_chain_sum")
    for seed in range(30):
        p = chain.fill(seed)
        expression = re.search(r"problem: (.*) =", p.text).group(1)
        assert re.fullmatch(r"[\d +-]+", expression)
        assert int(p.answer) == eval(expression)  # digits, + and - only (checked above)
        assert dict(p.factors)["terms"] == len(re.findall(r"\d+", expression))
    for name, fn in (("math/rg_gcd", math.gcd), ("math/rg_lcm", math.lcm)):
        for seed in range(20):
            p = _by_id(name).fill(seed)
            numbers = [int(x) for x in re.search(r"numbers: ([\d, ]+)", p.text).group(1).split(",")]
            assert int(p.answer) == fn(*numbers)
            assert dict(p.factors)["numbers"] == len(numbers)


def test_english_word_problem_answers_recomputed():
    source = _by_id("math/word_problem")
    for seed in range(50):
        p = source.fill(seed)
        body = p.text.split("\n\n")[0]
        total = int(re.search(r" has (\d+) ", body).group(1))
        for sentence in re.split(r"(?<=[.?])\s", body)[1:]:
            packs = re.search(r"(\d+) (?:packs|bags) with (\d+)", sentence)
            amount = int(packs.group(1)) * int(packs.group(2)) if packs else None
            if amount is None and (m := re.search(r"(\d+)", sentence)):
                amount = int(m.group(1))
            if amount is None:
                continue
            if re.search(r"buys|receives", sentence):
                total += amount
            elif re.search(r"gives|loses|hands out", sentence):
                total -= amount
        assert total >= 0 and p.answer == str(total), p.text
        assert dict(p.factors)["steps"] == len(re.split(r"(?<=[.?])\s", body)) - 2


def test_code_output_answers_match_execution():
    for kind in ("list", "string"):
        source = _by_id(f"code/gen_output_{kind}")
        for seed in range(60):
            p = source.fill(seed)
            program = re.search(r"```python\n(.*)\n```", p.text, re.S).group(1)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(program, {})  # our own generated code: composed list/string operations
            assert out.getvalue().rstrip("\n") == p.answer


def test_code_function_asserts_pass_with_the_reference_solution():
    for kind in ("list", "string"):
        source = _by_id(f"code/gen_function_{kind}")
        for seed in range(60):
            p = source.fill(seed)
            namespace: dict = {}
            exec(source.reference_solution(seed), namespace)
            exec(p.answer, namespace)  # raises AssertionError on a wrong reference answer
            assert p.answer.count("assert ") == dict(p.factors)["tests"]


def test_fact_quiz_and_chronology_answers_match_the_tables():
    capitals = {country: capital for country, capital, _ in knowledge_tables.CAPITALS}
    assert capitals["Australia"] == "Canberra" and capitals["Canada"] == "Ottawa"
    symbols = {name: (symbol, z) for name, symbol, z, _ in knowledge_tables.ELEMENTS}
    assert (
        symbols["gold"] == ("Au", 79) and symbols["iron"] == ("Fe", 26) and symbols["tungsten"] == ("W", 74)
    )
    quiz = _by_id("general_knowledge/gen_fact_quiz")
    checked = 0
    for seed in range(80):
        p = quiz.fill(seed)
        questions = re.findall(r"^(?:\d+\. )?(.*\?)$", p.text, re.M)
        answers = [re.sub(r"^\d+\. ", "", line) for line in p.answer.split("\n")]
        assert len(questions) == len(answers) == dict(p.factors)["questions"]
        for q, a in zip(questions, answers, strict=True):
            if m := re.fullmatch(r"What is the capital of (.+)\?", q):
                assert capitals[m.group(1)] == a
                checked += 1
            elif m := re.fullmatch(r"What is the chemical symbol of (.+)\?", q):
                assert symbols[m.group(1)][0] == a
                checked += 1
            elif m := re.fullmatch(r"What is the atomic number of (.+)\?", q):
                assert str(symbols[m.group(1)][1]) == a
                checked += 1
    assert checked > 20
    years = {event[:1].upper() + event[1:]: year for event, year, _ in knowledge_tables.EVENTS}
    chronology = _by_id("general_knowledge/gen_chronology")
    for seed in range(30):
        p = chronology.fill(seed)
        listed = dict(re.findall(r"^([A-J])\. (.+)$", p.text, re.M))
        order = p.answer.split(", ")
        dates = [years[listed[letter]] for letter in order]
        assert dates == sorted(dates) and len(order) == dict(p.factors)["events"]


def test_structured_format_answers():
    source = _by_id("steerability/gen_structured_format")
    for seed in range(60):
        p = source.fill(seed)
        fields = dict(p.factors)["fields"]
        if "JSON array" in p.text:
            rows = json.loads(p.answer)
            assert rows and all(list(row)[0] == "name" and len(row) == fields for row in rows)
            for row in rows:  # every output value comes from the record of that name
                line = next(x for x in p.text.splitlines() if x.startswith(f"- {row['name']} is "))
                assert all(str(v) in line for v in row.values())
        elif "CSV" in p.text:
            header = p.answer.split("\n")[0]
            assert f"`{header}`" in p.text and header.startswith("name,")


# --------------------------------------------------------------------------------------------------
# Instruction following (if_verifiable)
# --------------------------------------------------------------------------------------------------

_SUPPORTED = {
    "keywords:existence",
    "keywords:forbidden_words",
    "punctuation:no_comma",
    "startend:end_checker",
    "detectable_content:postscript",
    "detectable_format:title",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_content:number_placeholders",
    "change_case:english_lowercase",
    "startend:quotation",
}


def _compliant_response(spec: dict) -> str:
    kw = dict(zip(spec["instruction_id_list"], spec["kwargs"], strict=True))
    body = (
        "The garden project started in spring and the whole street helped out. Neighbours planted beans "
        "and tomatoes in long rows. By the end of the summer the harvest fed twenty families."
    )
    if "keywords:existence" in kw:
        body += " " + " ".join(f"The {word} was part of it." for word in kw["keywords:existence"]["keywords"])
    if "detectable_content:number_placeholders" in kw:
        body += " Write to [name] at [address] or call [phone] before [date]."
    if "detectable_format:number_highlighted_sections" in kw:
        body += " We learned *patience* and *planning* and *sharing* and *care* and *hope*."
    parts = [body]
    if "detectable_format:title" in kw:
        parts.insert(0, "<<Our street garden>>")
    if "detectable_format:number_bullet_lists" in kw:
        parts.append(
            "\n".join(
                f"* lesson {i + 1}" for i in range(kw["detectable_format:number_bullet_lists"]["num_bullets"])
            )
        )
    if "detectable_content:postscript" in kw:
        parts.append(
            f"{kw['detectable_content:postscript']['postscript_marker']} See you at the next planting day."
        )
    text = "\n\n".join(parts)
    if "startend:end_checker" in kw:
        text += "\n" + kw["startend:end_checker"]["end_phrase"]
    if "change_case:english_lowercase" in kw:
        text = text.lower()
    if "startend:quotation" in kw:
        text = f'"{text}"'
    return text


def test_instruction_source_records_verifiable_instructions():
    from if_verifiable.common import evaluate_instructions

    registry = gen.if_verifiable_registry()
    found = 0
    for mode in ("write", "rewrite"):
        source = _by_id(f"steerability/ifeval_{mode}")
        for seed in range(400):
            p = source.fill(seed)
            spec = json.loads(p.answer)
            assert len(spec["instruction_id_list"]) == len(spec["kwargs"]) == dict(p.factors)["constraints"]
            assert set(spec["instruction_id_list"]) <= set(registry)
            if not set(spec["instruction_id_list"]) <= _SUPPORTED:
                continue
            found += 1
            good = _compliant_response(spec)
            assert all(gen.verify_instructions(p.answer, good)), (spec, good)
            # the same record works through if_verifiable's own evaluation
            _, scores = evaluate_instructions(
                good, spec["instruction_id_list"], spec["kwargs"], p.text, registry
            )
            assert scores.binary_strict == 1.0
            bad = "Hello, world. This is a very good, really important, basically amazing thing."
            if set(spec["instruction_id_list"]) - {
                "keywords:forbidden_words",
                "change_case:english_lowercase",
            }:
                assert not all(gen.verify_instructions(p.answer, bad)), spec
    assert found >= 10


def test_instruction_prompts_are_our_own_wording_with_valid_kwargs():
    """Every recorded kwargs set builds its checker; no 13-word run is shared with IFEval's own wording."""
    registry = gen.if_verifiable_registry()
    seen_ids = set()
    for mode in ("write", "rewrite"):
        source = _by_id(f"steerability/ifeval_{mode}")
        for seed in range(150):
            p = source.fill(seed)
            spec = json.loads(p.answer)
            canonical = []
            for iid, kwargs in zip(spec["instruction_id_list"], spec["kwargs"], strict=True):
                canonical.append(registry[iid](iid).build_description(**kwargs))
                seen_ids.add(iid)
            assert LeakageFilter(canonical).check(p.text) is None, (p.text, canonical)
            assert len(gen.verify_instructions(p.answer, "Some reply.")) == len(canonical)
    assert len(seen_ids) >= 20


def test_verify_instructions_works_offline_for_sentence_and_capital_word_counts():
    spec = {
        "instruction_id_list": [
            "length_constraints:number_sentences",
            "change_case:capital_word_frequency",
            "length_constraints:number_words",
        ],
        "kwargs": [
            {"num_sentences": 3, "relation": "at least"},
            {"capital_frequency": 2, "capital_relation": "at least"},
            {"num_words": 12, "relation": "less than"},
        ],
    }
    assert gen.verify_instructions(spec, "It rained. We stayed IN. The cat was HAPPY.") == [True, True, True]
    assert gen.verify_instructions(json.dumps(spec), "It rained all day in the old town.") == [
        False,
        False,
        True,
    ]


# --------------------------------------------------------------------------------------------------
# Long documents
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_words", [200, 700, 3000])
@pytest.mark.parametrize("kind", ["report", "log", "records"])
def test_long_documents_respect_max_words_and_contain_the_answer(kind, max_words):
    source = gen.LongDocumentSource(source_id=f"long_context/t_{kind}", kind=kind, max_words=max_words)
    sizes = []
    for seed in range(25):
        p = source.fill(seed)
        document = re.search(r"<document>\n(.*)\n</document>", p.text, re.S).group(1)
        factors = dict(p.factors)
        words = len(document.split())
        sizes.append(words)
        assert words == factors["doc_words"] <= max_words
        values = p.answer.split("; ")
        assert len(values) == factors["asked"]
        for value in values:
            assert value in document
        assert 0.0 <= factors["needle_depth"] <= 1.0
        if kind != "records":  # the planted sentence holds the value
            questions = re.findall(r"What is the (.+?) for (.+?)\?", p.text)
            for (attr, holder), value in zip(questions, values, strict=True):
                assert f"the {attr} for {holder} is {value}" in document
        else:
            questions = re.findall(r"What is the (.+?) of (\w+ \w+)\?", p.text)
            for (_, name), value in zip(questions, values, strict=True):
                lines = [line for line in document.splitlines() if f"| {name} |" in line]
                assert len(lines) == 1 and value in lines[0]
    assert max(sizes) > 0.7 * max_words and min(sizes) < max(sizes)


def test_long_document_max_words_is_validated():
    with pytest.raises(ValueError):
        gen.LongDocumentSource(source_id="long_context/x", max_words=50)


# --------------------------------------------------------------------------------------------------
# Tool schemas
# --------------------------------------------------------------------------------------------------

_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


def test_tool_calls_use_only_offered_functions_and_declared_parameters():
    for source_id in ("tool_use/gen_single_call", "tool_use/gen_multi_call"):
        source = _by_id(source_id)
        for seed in range(80):
            p = source.fill(seed)
            offered = {}
            for line in p.text.splitlines():
                if line.startswith('{"name"'):
                    schema = json.loads(line)
                    offered[schema["name"]] = schema["parameters"]
            calls = json.loads(p.answer)
            factors = dict(p.factors)
            assert len(offered) == factors["functions"] and len(calls) == factors["calls"]
            assert len(offered) - len({c["name"] for c in calls}) == factors["distractors"]
            assert sum(len(c["arguments"]) for c in calls) == factors["arguments"]
            for call in calls:
                params = offered[call["name"]]
                assert set(params["required"]) <= set(call["arguments"]) <= set(params["properties"])
                for name, value in call["arguments"].items():
                    spec = params["properties"][name]
                    assert isinstance(value, _JSON_TYPES[spec["type"]]), (name, value)
                    if spec["type"] != "boolean":
                        assert not isinstance(value, bool)
                        assert str(value) in p.text  # the request states every value
                    if "enum" in spec:
                        assert value in spec["enum"]
                dates = [v for k, v in call["arguments"].items() if k in ("check_in", "check_out")]
                assert dates == sorted(dates)
            if source_id.endswith("single_call"):
                assert len(calls) == 1


# --------------------------------------------------------------------------------------------------
# Multilingual
# --------------------------------------------------------------------------------------------------


def test_multilingual_prompts_in_at_least_three_languages():
    import langdetect

    langdetect.DetectorFactory.seed = 0
    languages = set()
    for source in generation_sources("multilingual"):
        if isinstance(source, gen.WordProblemSource):
            detected = {langdetect.detect(source.fill(seed).text) for seed in range(10)}
            assert detected == {source.language}, (source.source_id, detected)
            languages.add(source.language)
        elif isinstance(source, gen.TranslationSource):
            languages.add(source.target)
    assert {"es", "fr", "de"} <= languages and "en" not in languages
    word_problem_answers = [
        _by_id(f"multilingual/word_problem_{lang}").fill(3).answer for lang in ("es", "fr", "de")
    ]
    assert all(a.isdigit() for a in word_problem_answers)
