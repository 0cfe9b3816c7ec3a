"""Procedural probe item builders (METHOD.md, "Probes (the capability profile)").

Each builder takes a seeded ``random.Random`` and returns a ``Draft`` (prompt, checker, checker data,
generation budget) with a verifiable checker: exact numbers (arithmetic, word problems, equations, logic,
sequences, program output, needle retrieval), JSON objects with given keys and types, BFCL-style tool calls
against our own synthetic function schemas (``possible_answer``), IFEval-style instructions checked with
``if_verifiable``'s IFEval checkers, tiny Python functions run against asserts in the sandbox, and answers
that must contain given words (facts, capitals, translations in Spanish, French, German, Italian and
Portuguese). The probe wordings, tasks, schemas and filler texts are written for the probes only: nothing
here imports ``read_ray.content.generators`` or shares ``read_ray/data/templates``.

:func:`read_ray.content.probe_suite.build_probe_suite` draws item ``i`` of a capability from source
``CYCLES[capability][i % len]``: a builder name (a key of ``BUILDERS``) or ``TEMPLATE`` (a slot filled from
the probe-only templates of ``read_ray/data/probes``).

Modules: ``common`` (:class:`ProbeItem`, ``Draft`` and the ``pick`` / ``num`` helpers), one module per
capability (``knowledge``, ``steerability``, ``reasoning``, ``maths``, ``code``, ``tool_use``,
``long_context``, ``multilingual``), and ``checks`` (the response checkers, ``check_response``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from read_ray.content.probe_items.code import code_function, code_output
from read_ray.content.probe_items.common import Draft
from read_ray.content.probe_items.knowledge import gk_fact
from read_ray.content.probe_items.long_context import lc_lookup, lc_needle, lc_sum
from read_ray.content.probe_items.maths import (
    math_arith,
    math_divisors,
    math_equation,
    math_percent,
    math_word,
)
from read_ray.content.probe_items.multilingual import ml_capital, ml_problem, ml_translate
from read_ray.content.probe_items.reasoning import (
    reason_ages,
    reason_boolean,
    reason_race,
    reason_robot,
    reason_sequence,
)
from read_ray.content.probe_items.steerability import steer_instructions, steer_json
from read_ray.content.probe_items.tool_use import tool_call

__all__ = ["TEMPLATE", "CYCLES", "BUILDERS"]

TEMPLATE = "template"
# Per capability, the cycle of sources item i draws from (source i mod len): builders and template slots.
CYCLES: dict[str, tuple[str, ...]] = {
    "general_knowledge": (
        "gk_fact",
        "gk_fact",
        TEMPLATE,
        "gk_fact",
        "gk_fact",
        "gk_fact",
        TEMPLATE,
        "gk_fact",
    ),
    "steerability": (
        "instructions",
        "json",
        TEMPLATE,
        "instructions",
        "instructions",
        "json",
        TEMPLATE,
        "instructions",
    ),
    "reasoning": ("race", "ages", TEMPLATE, "sequence", "boolean", "robot", TEMPLATE, "sequence"),
    "math": ("arith", "equation", TEMPLATE, "word", "percent", "divisors", TEMPLATE, "word"),
    "code": ("function", "output", TEMPLATE, "function", "function", "output", TEMPLATE, "function"),
    "tool_use": (
        "tool_call",
        "tool_call",
        TEMPLATE,
        "tool_call",
        "tool_call",
        "tool_call",
        TEMPLATE,
        "tool_call",
    ),
    "long_context": ("needle", "lookup", TEMPLATE, "sum", "needle", "lookup", TEMPLATE, "needle"),
    "multilingual": (
        "ml_problem",
        "ml_capital",
        TEMPLATE,
        "ml_translate",
        "ml_problem",
        "ml_capital",
        TEMPLATE,
        "ml_translate",
    ),
}
BUILDERS: dict[str, Callable[[random.Random], Draft]] = {
    "gk_fact": gk_fact,
    "instructions": steer_instructions,
    "json": steer_json,
    "race": reason_race,
    "ages": reason_ages,
    "sequence": reason_sequence,
    "boolean": reason_boolean,
    "robot": reason_robot,
    "arith": math_arith,
    "equation": math_equation,
    "percent": math_percent,
    "word": math_word,
    "divisors": math_divisors,
    "function": code_function,
    "output": code_output,
    "tool_call": tool_call,
    "needle": lc_needle,
    "lookup": lc_lookup,
    "sum": lc_sum,
    "ml_problem": ml_problem,
    "ml_capital": ml_capital,
    "ml_translate": ml_translate,
}
