"""The task metrics of a fixed prediction (generated text): 1.0 if it is correct for the item, else 0.0.

``exact_match`` (the final number, GSM8K), ``pass_at_1`` (the program run against the item's tests in the
sandbox), ``ast_match`` (one parsed tool call against BFCL's possible answer and the function's schema),
``mc_loglik`` (here: the predicted choice's text or letter; a model is scored by its choice
log-likelihoods in :mod:`read_ray.model.tasks`).

stdlib only (the sandbox runs code in a subprocess).
"""

from __future__ import annotations

import re

from read_ray.content.answers import code_passes, extract_final_number, numbers_match
from read_ray.content.fences import extract_code
from read_ray.content.tasks.items import TaskItem
from read_ray.content.tasks.prompts import LETTERS
from read_ray.content.tool_calls import parse_tool_calls, tool_call_matches

__all__ = ["METRICS", "build_program", "score_prediction"]

METRICS = ("exact_match", "pass_at_1", "mc_loglik", "ast_match")


def build_program(item: TaskItem, completion: str) -> str:
    """The program to test for a code item.

    MBPP-style items: the extracted code. HumanEval-style items (the prompt holds a function stub): the stub
    (imports, helper functions, the documented signature) followed by the extracted code, which either
    redefines the whole function or, when it has no ``def <entry_point>``, continues the stub as its body.
    """
    code = extract_code(completion)
    stub = _code_stub(item)
    if not stub:
        return code
    if item.entry_point and re.search(rf"^\s*def\s+{re.escape(item.entry_point)}\s*\(", code, re.M):
        return f"{stub}\n\n{code}"
    return stub + code


def _code_stub(item: TaskItem) -> str:
    """The code block given in a HumanEval-style prompt (empty when the prompt has none)."""
    match = re.search(r"\n```python\n(.*?)```", item.prompt, re.S)
    return match.group(1) if match else ""


def score_prediction(metric: str, item: TaskItem, prediction: str) -> float:
    """1.0 if ``prediction`` (generated text) is correct for ``item`` under ``metric``, else 0.0.

    ``mc_loglik`` items take the predicted choice *text* (or its letter).
    """
    if metric == "exact_match":
        return float(numbers_match(extract_final_number(prediction), item.gold))
    if metric == "pass_at_1":
        return float(code_passes(build_program(item, prediction), item.tests))
    if metric == "ast_match":
        calls = parse_tool_calls(prediction)
        return float(
            calls is not None
            and len(calls) == 1
            and item.possible_answer is not None
            and tool_call_matches(calls[0], item.possible_answer, item.function)
        )
    if metric == "mc_loglik":
        if item.gold_index is None:
            return 0.0
        text = prediction.strip()
        gold = item.choices[item.gold_index]
        letter = LETTERS[item.gold_index]
        return float(text == gold.strip() or text.upper() in (letter, f"{letter}.", f"({letter})"))
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
