"""Answer log-likelihoods and answer checkers (read_ray.model.scoring).

Mechanics run on a tiny random model with the real tokenizer; one test uses the real bundled teacher
(a few seconds to load, one short greedy generation).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest
import torch

from read_ray.content.answers import (
    code_passes,
    code_wall_backstop_s,
    extract_final_number,
    extract_json,
    numbers_match,
)
from read_ray.content.tasks.pools import BFCL, data_file, read_jsonl
from read_ray.content.tasks.prompts import format_call, resolve_literal
from read_ray.content.tool_calls import parse_tool_calls, tool_call_matches
from read_ray.model.loading import (
    apply_chat_template,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
)
from read_ray.model.scoring import answer_logliks, mean_token_logliks

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


@pytest.mark.parametrize("gold", ["1000000", "1,000,000", "1450000", "2880000", "123456789012345678901"])
def test_integer_golds_match_exactly_at_any_size(gold):
    value = int(gold.replace(",", ""))
    assert numbers_match(str(value), gold) and numbers_match(f"{value:,}", gold)
    assert numbers_match(f"#### {value}.00", gold)
    for wrong in (value - 1, value + 1):
        assert not numbers_match(str(wrong), gold), wrong
    assert not numbers_match(f"{value}.0000001", gold)


def test_numbers_match_ignores_the_global_decimal_context():
    """reasoning-gym sets decimal's global precision (to 6, say) while generating prompts; scoring must not
    follow it (at 6 digits 1000000.0000001 rounds to 1000000)."""
    import decimal

    saved = decimal.getcontext().prec
    decimal.getcontext().prec = 6
    try:
        assert not numbers_match("1000000.0000001", "1000000") and not numbers_match("999999", "1000000")
        assert numbers_match("1,000,000", "1000000") and numbers_match("3.5000004", "3.5")
    finally:
        decimal.getcontext().prec = saved


def test_decimal_golds_have_a_small_absolute_tolerance():
    assert numbers_match("3.5000004", "3.5") and numbers_match("3.4999996", "3.50")
    assert not numbers_match("3.51", "3.5") and not numbers_match("3.500002", "3.5")
    assert numbers_match("0.0000015", "0.000001")  # absolute, not relative: 50% off at this scale
    assert not numbers_match("1000000.5", "1000000.25")


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


BFCL_TRIANGLE_SCHEMA = {
    "name": "calculate_triangle_area",
    "parameters": {
        "type": "dict",
        "properties": {
            "base": {"type": "integer"},
            "height": {"type": "integer"},
            "unit": {"type": "string"},
        },
        "required": ["base", "height"],
    },
}


def test_tool_call_with_schema_checks_types_and_required_as_bfcl():
    def ok(text, answer=BFCL_ANSWER, schema=BFCL_TRIANGLE_SCHEMA):
        return tool_call_matches(parse_tool_calls(text)[0], answer, schema)

    assert ok("calculate_triangle_area(base=10, height=5)")
    assert ok("calculate_triangle_area(base=10, height=5, unit='units')")
    assert not ok("calculate_triangle_area(base=10, height=5.0)")  # float for an integer
    assert tool_call_matches(parse_tool_calls("calculate_triangle_area(base=10, height=5.0)")[0], BFCL_ANSWER)
    assert not ok("calculate_triangle_area(base=10, height=True)")  # bool for an integer
    assert not ok("calculate_triangle_area(base=10)")
    assert not ok("calculate_triangle_area(base=10, height=5, unit=3)")  # int for a string
    # required by the schema even where the possible answer would let it be left out
    lenient = {"calculate_triangle_area": {"base": [10], "height": [5, ""], "unit": ["units", ""]}}
    assert tool_call_matches(parse_tool_calls("calculate_triangle_area(base=10)")[0], lenient)
    assert not ok("calculate_triangle_area(base=10)", answer=lenient)
    # a parameter the possible answer does not list is unexpected, even if the schema has it
    narrow = {"calculate_triangle_area": {"base": [10], "height": [5]}}
    assert not ok("calculate_triangle_area(base=10, height=5, unit='units')", answer=narrow)
    # float parameters take ints (Python converts them); lists in order; tuples as lists
    schema = {
        "name": "f",
        "parameters": {
            "properties": {
                "x": {"type": "float"},
                "xs": {"type": "array", "items": {"type": "integer"}},
                "pair": {"type": "tuple", "items": {"type": "string"}},
            },
            "required": ["x"],
        },
    }
    answer = {"f": {"x": [2.0], "xs": [[1, 2], ""], "pair": [["a b", "c"], ""]}}
    assert tool_call_matches({"name": "f", "arguments": {"x": 2}}, answer, schema)
    assert tool_call_matches({"name": "f", "arguments": {"x": 2.0, "xs": [1, 2]}}, answer, schema)
    assert not tool_call_matches({"name": "f", "arguments": {"x": 2.0, "xs": [2, 1]}}, answer, schema)
    # element types are checked one level deep against each allowed list; as in BFCL, an optional marker
    # ("") among the allowed values passes that check, and 1.0 == 1 in the value check
    assert tool_call_matches({"name": "f", "arguments": {"x": 2.0, "xs": [1.0, 2]}}, answer, schema)
    strict = {"f": {"x": [2.0], "xs": [[1, 2]]}}
    assert tool_call_matches({"name": "f", "arguments": {"x": 2.0, "xs": [1, 2]}}, strict, schema)
    assert not tool_call_matches({"name": "f", "arguments": {"x": 2.0, "xs": [1.0, 2]}}, strict, schema)
    assert tool_call_matches({"name": "f", "arguments": {"x": 2, "pair": ("AB", "c")}}, answer, schema)
    assert not tool_call_matches({"name": "f", "arguments": {"x": 2.5}}, answer, schema)


def _bfcl_simple_rows():
    rows = read_jsonl(data_file(BFCL, "bfcl_simple", "data/BFCL_v4_simple_python.json"))
    answers = read_jsonl(
        data_file(BFCL, "bfcl_simple", "data/possible_answer/BFCL_v4_simple_python.json")
    )
    truth = {row["id"]: row["ground_truth"][0] for row in answers}
    return [(row["id"], row["function"][0], truth[row["id"]]) for row in rows]


def test_bfcl_parity_every_gold_answer_matches_itself():
    """Over all of BFCL's simple_python gold answers (shipped in bfcl-eval): the canonical call, and every
    allowed value of every parameter in turn, pass the schema check; a float for an integer and a missing
    required parameter fail it, as in BFCL's simple_function_checker."""
    rows = _bfcl_simple_rows()
    assert len(rows) == 400
    checked = int_params = required_params = 0
    required_yet_optional = set()
    for item_id, function, possible in rows:
        ((name, params),) = possible.items()
        calls = parse_tool_calls(format_call(possible, function))
        assert calls is not None and len(calls) == 1, item_id
        canonical = calls[0]
        assert tool_call_matches(canonical, possible, function), item_id
        required = set(function["parameters"]["required"])
        for key, options in params.items():
            for option in options:
                if option == "" and key in required:
                    # the answer allows leaving out what the schema requires; BFCL refuses it, so do we
                    required_yet_optional.add(item_id)
                    args = {k: v for k, v in canonical["arguments"].items() if k != key}
                    assert not tool_call_matches({"name": name, "arguments": args}, possible, function)
                    continue
                if option == "":
                    args = {k: v for k, v in canonical["arguments"].items() if k != key}
                else:
                    args = {**canonical["arguments"], key: resolve_literal(option)}
                assert tool_call_matches({"name": name, "arguments": args}, possible, function), (
                    item_id,
                    key,
                )
                checked += 1
        properties = function["parameters"]["properties"]
        for key, value in canonical["arguments"].items():
            if properties[key]["type"] == "integer" and type(value) is int:
                args = {**canonical["arguments"], key: float(value)}
                assert not tool_call_matches({"name": name, "arguments": args}, possible, function), item_id
                int_params += 1
        for key in function["parameters"]["required"]:
            args = {k: v for k, v in canonical["arguments"].items() if k != key}
            assert not tool_call_matches({"name": name, "arguments": args}, possible, function), item_id
            required_params += 1
    assert checked > 800 and int_params > 150 and required_params > 600
    assert len(required_yet_optional) <= 3  # simple_python_17 and _200 in BFCL v4


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
    assert code_passes(program, tests, cpu_time_s=5)
    assert not code_passes("def add(a, b):\n    return a - b\n", tests, cpu_time_s=5)
    assert not code_passes(
        "def add(a, b):\n    while True:\n        pass\n", tests + "add(1, 1)\n", cpu_time_s=1
    )
    assert not code_passes("", tests)
    # exits before the tests ran to the end are failures (the issue's examples)
    assert not code_passes("import sys\nsys.exit(0)\n", tests)
    assert not code_passes("def add(a, b):\n    return None\nimport os\nos._exit(0)\n", tests)
    main = "\ndef main():\n    return 0\n\nif __name__ == '__main__':\n    import sys\n    sys.exit(main())\n"
    assert not code_passes("def add(a, b):\n    return 0\n" + main, tests)
    assert code_passes(program + main, tests)
    # nothing the program does raises: PTRACE_TRACEME then a signal (the issue's 3-line program)
    ptrace = "import ctypes, os, signal\nctypes.CDLL(None).ptrace(0, 0, 0, 0)\nos.kill(os.getpid(), signal.SIGUSR1)\n"
    assert not code_passes(program + ptrace, tests)


_BURN = (
    "import time\ndef burn(cpu_s):\n    while time.process_time() < cpu_s:\n        pass\n    return True\n"
)


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")
def test_code_timeout_is_cpu_time_not_wall_time():
    """A correct solution that needs ~3 s of CPU passes while busy processes compete for the cores (its
    wall time is longer than its CPU time); a program that needs more CPU than its limit fails; a program
    that waits without using CPU is stopped only by the generous wall backstop."""
    assert code_wall_backstop_s(10) == 40.0 and code_wall_backstop_s(1) == 20.0
    hog = "import time\nt = time.time() + 30\nwhile time.time() < t:\n    pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(2)]
    try:
        start = time.monotonic()
        assert code_passes(_BURN, "assert burn(3.0)\n")  # the defaults: 10 s of CPU, 40 s wall backstop
        loaded_wall_s = time.monotonic() - start
    finally:
        for process in hogs:
            process.kill()
            process.wait()
    assert loaded_wall_s > 3.0  # it really ran under load (more wall than CPU time)
    assert not code_passes(_BURN, "assert burn(1.5)\n", cpu_time_s=1, wall_time_s=60)
    # waiting costs no CPU: a 1 s CPU limit does not stop a program that sleeps 1.5 s
    assert code_passes("import time\ntime.sleep(1.5)\n", "assert True\n", cpu_time_s=1)
