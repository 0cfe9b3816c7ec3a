"""Answer log-likelihoods and answer checkers (read_ray.model.scoring).

Mechanics run on a tiny random model with the real tokenizer; one test uses the real bundled teacher
(a few seconds to load, one short greedy generation).
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from read_ray.model.loading import (
    apply_chat_template,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
)
from read_ray.model.scoring import (
    answer_logliks,
    code_passes,
    extract_final_number,
    extract_json,
    mean_token_logliks,
    numbers_match,
    parse_tool_calls,
    tool_call_matches,
)

torch.set_num_threads(2)



@pytest.fixture(scope="module")
def tiny(teacher_dir, tmp_path_factory):
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", tokenizer_source=teacher_dir, seed=3)
    return load_causal_lm(path), load_tokenizer(path)


PROMPTS = [
    "Question: what is two plus two?\nAnswer:",
    "Hi",
    "A much longer prompt that goes on for a while so that the batch needs real padding on the right side.",
    "",
]
ANSWERS = [" four", " there, how are you today?", " yes", "Start of a text"]


def manual_loglik(model, tokenizer, prompt: str, answer: str) -> tuple[float, int]:
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"] or [tokenizer.bos_token_id]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + a])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    total = sum(logp[len(p) - 1 + i, tok].item() for i, tok in enumerate(a))
    return total, len(a)


# ----------------------------------------------------------------------------------------------------------
# Log-likelihoods


def test_batched_loglik_equals_unbatched_and_manual(tiny):
    model, tokenizer = tiny
    batched = answer_logliks(model, tokenizer, PROMPTS, ANSWERS, batch_size=4)
    single = answer_logliks(model, tokenizer, PROMPTS, ANSWERS, batch_size=1)
    for (b_sum, b_n), (s_sum, s_n), prompt, answer in zip(batched, single, PROMPTS, ANSWERS, strict=True):
        m_sum, m_n = manual_loglik(model, tokenizer, prompt, answer)
        assert b_n == s_n == m_n == len(tokenizer(answer, add_special_tokens=False)["input_ids"])
        assert b_sum == pytest.approx(s_sum, abs=1e-3)
        assert b_sum == pytest.approx(m_sum, abs=1e-3)
        assert b_sum < 0


def test_empty_answer_and_mean(tiny):
    model, tokenizer = tiny
    out = answer_logliks(model, tokenizer, ["a prompt", "x"], ["", " y"])
    assert out[0] == (0.0, 0)
    assert out[1][1] == 1
    means = mean_token_logliks(model, tokenizer, ["a prompt", "x"], ["", " y"])
    assert math.isnan(means[0])
    assert means[1] == pytest.approx(out[1][0])
    with pytest.raises(ValueError):
        answer_logliks(model, tokenizer, ["a"], [])


def test_left_truncation_keeps_the_answer(tiny):
    model, tokenizer = tiny
    prompt = " ".join(f"word{i}" for i in range(60))
    answer = " the end of it"
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    max_length = len(a) + 5
    ((total, n),) = answer_logliks(model, tokenizer, [prompt], [answer], max_length=max_length)
    ids = torch.tensor([p[-5:] + a])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)
    expected = sum(logp[4 + i, tok].item() for i, tok in enumerate(a))
    assert n == len(a)
    assert total == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
def test_teacher_prefers_its_own_answer_to_garbage(teacher_dir):
    tokenizer = load_tokenizer(teacher_dir)
    model = load_causal_lm(teacher_dir, num_threads=2)
    prompt = apply_chat_template(tokenizer, "What is the capital of France?")
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    own = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    garbage = " purple lasagna quantum velvet under seventeen broken harmonicas of Tuesday gravel " * 2
    own_mean, garbage_mean = mean_token_logliks(model, tokenizer, [prompt, prompt], [own, garbage])
    assert own.strip()
    assert own_mean > garbage_mean + 2.0


# ----------------------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Janet sells 9 eggs.\nShe makes 9 * 2 = $18.\n#### 18", "18"),
        ("#### 1,234", "1234"),
        ("So the answer is -3.5.", "-3.5"),
        ("The answer is 7. Check: 7 * 2 = 14", "7"),
        ("we get 12 and then 42.0", "42"),
        ("total: $1,000.50 dollars", "1000.5"),
        ("It costs .5", "0.5"),
        ("no numbers here", None),
        ("", None),
    ],
)
def test_extract_final_number(text, expected):
    assert extract_final_number(text) == expected


def test_numbers_match():
    assert numbers_match("18", "18")
    assert numbers_match(extract_final_number("... so 18.00 in total"), "18")
    assert numbers_match("1,234", "1234")
    assert numbers_match("The answer is 5", "#### 5")
    assert not numbers_match("17", "18")
    assert not numbers_match(None, "18")
    assert not numbers_match("", "18")


# ----------------------------------------------------------------------------------------------------------
# JSON and tool calls


def test_extract_json():
    assert extract_json('Here:\n```json\n{"a": [1, 2], "b": "x"}\n```\nDone.') == {"a": [1, 2], "b": "x"}
    assert extract_json('prefix {"k": true} then [1]') == {"k": True}
    assert extract_json("a list [1, 2, 3] only") == [1, 2, 3]
    assert extract_json("[broken {x: 1} ] no") is None
    assert extract_json("nothing") is None
    assert extract_json("") is None


BFCL_ANSWER = {"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}
BFCL_HYPOT = {"math.hypot": {"x": [4], "y": [5], "z": ["", 0]}}
BFCL_SEARCH = {
    "restaurant_search": {
        "location": ["New York City", "New York City, NY", "NYC"],
        "cuisine": ["Italian"],
        "rating": [4],
        "accepts_credit_cards": [True],
    }
}


@pytest.mark.parametrize(
    "text",
    [
        "calculate_triangle_area(base=10, height=5)",
        "[calculate_triangle_area(base=10, height=5, unit='units')]",
        "Sure! calculate_triangle_area(base=10, height=5.0) is the call.",
        '{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}',
        '```json\n[{"name": "calculate_triangle_area", "arguments": "{\\"base\\": 10, \\"height\\": 5}"}]\n```',
        '{"calculate_triangle_area": {"base": 10, "height": 5, "unit": "Units"}}',
    ],
)
def test_tool_call_accepts_correct_calls(text):
    calls = parse_tool_calls(text)
    assert calls is not None and len(calls) == 1
    assert tool_call_matches(calls[0], BFCL_ANSWER)


@pytest.mark.parametrize(
    "text",
    [
        "calculate_triangle_area(base=10, height=6)",  # wrong value
        "calculate_triangle_area(base=10)",  # required param missing
        "calculate_triangle_area(base=10, height=5, colour='red')",  # unknown param
        "calculate_triangle_area(base=10, height=5, unit='cm')",  # optional param, value not allowed
        "triangle_area(base=10, height=5)",  # wrong function
        "calculate_triangle_area(base='10', height=5)",  # string for a number
    ],
)
def test_tool_call_rejects_wrong_calls(text):
    calls = parse_tool_calls(text)
    assert calls is not None
    assert not tool_call_matches(calls[0], BFCL_ANSWER)


def test_tool_call_bfcl_details():
    # dotted names, BFCL's '.'->'_' renaming, optional param with a default, string normalisation, bools
    assert tool_call_matches(parse_tool_calls("math.hypot(x=4, y=5)")[0], BFCL_HYPOT)
    assert tool_call_matches(parse_tool_calls("math_hypot(x=4, y=5, z=0)")[0], BFCL_HYPOT)
    assert not tool_call_matches(parse_tool_calls("math.hypot(x=4, y=5, z=1)")[0], BFCL_HYPOT)
    good = (
        "restaurant_search(location='new york city', cuisine='italian', rating=4, accepts_credit_cards=True)"
    )
    assert tool_call_matches(parse_tool_calls(good)[0], BFCL_SEARCH)
    bad = good.replace("True", "False")
    assert not tool_call_matches(parse_tool_calls(bad)[0], BFCL_SEARCH)
    nested = {"f": {"opts": [{"a": [1], "b": ["x", ""]}], "ids": [[1, 2]]}}
    assert tool_call_matches({"name": "f", "arguments": {"opts": {"a": 1}, "ids": [1, 2]}}, nested)
    assert not tool_call_matches({"name": "f", "arguments": {"opts": {"a": 2}, "ids": [1, 2]}}, nested)
    assert not tool_call_matches({"name": "f", "arguments": {"opts": {"a": 1}, "ids": [2, 1]}}, nested)


def test_parse_tool_calls_forms_and_failures():
    assert parse_tool_calls('[f(a=1), g.h(b="x", c=[1, 2])]') == [
        {"name": "f", "arguments": {"a": 1}},
        {"name": "g.h", "arguments": {"b": "x", "c": [1, 2]}},
    ]
    assert parse_tool_calls('{"tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}') == [
        {"name": "f", "arguments": {"a": 1}}
    ]
    assert parse_tool_calls("I cannot help with that.") is None
    assert parse_tool_calls("f(1, 2)") is None  # positional arguments cannot be named
    assert parse_tool_calls("f(a=os.system('ls'))") is None  # literals only
    assert parse_tool_calls("") is None


# ----------------------------------------------------------------------------------------------------------
# Code


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")
def test_code_passes():
    program = "def add(a, b):\n    return a + b\n"
    tests = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"
    assert code_passes(program, tests, timeout_s=5)
    assert not code_passes("def add(a, b):\n    return a - b\n", tests, timeout_s=5)
    assert not code_passes(
        "def add(a, b):\n    while True:\n        pass\n", tests + "add(1, 1)\n", timeout_s=2
    )
    assert not code_passes("", tests)
