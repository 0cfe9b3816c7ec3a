"""Procedural probe item builders (METHOD.md, "Probes (the capability profile)").

Each builder takes a seeded ``random.Random`` and returns a ``_Draft`` (prompt, checker, checker data,
generation budget) with a verifiable checker: exact numbers (arithmetic, word problems, equations, logic,
sequences, program output, needle retrieval), JSON objects with given keys and types, BFCL-style tool calls
against our own synthetic function schemas (``possible_answer``), IFEval-style instructions checked with
``if_verifiable``'s IFEval checkers, tiny Python functions run against asserts in the sandbox, and answers
that must contain given words (facts, capitals, translations in Spanish, French, German, Italian and
Portuguese). The probe wordings, tasks, schemas and filler texts are written for the probes only: nothing
here imports ``read_ray.content.generators`` or shares ``read_ray/data/templates``.

:func:`read_ray.model.probes.build_probe_suite` draws item ``i`` of a capability from source
``CYCLES[capability][i % len]``: a builder name (a key of ``BUILDERS``) or ``TEMPLATE`` (a slot filled from
the probe-only templates of ``read_ray/data/probes``).

Modules: ``common`` (:class:`ProbeItem`, ``_Draft`` and the ``_pick`` / ``_num`` helpers), one module per
capability (``knowledge``, ``steerability``, ``reasoning``, ``maths``, ``code``, ``tool_use``,
``long_context``, ``multilingual``), and ``checks`` (helpers of the response checkers).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from read_ray.content.probe_items.code import _code_function, _code_output
from read_ray.content.probe_items.common import _Draft
from read_ray.content.probe_items.knowledge import _gk_fact
from read_ray.content.probe_items.long_context import _lc_lookup, _lc_needle, _lc_sum
from read_ray.content.probe_items.maths import (
    _math_arith,
    _math_divisors,
    _math_equation,
    _math_percent,
    _math_word,
)
from read_ray.content.probe_items.multilingual import _ml_capital, _ml_problem, _ml_translate
from read_ray.content.probe_items.reasoning import (
    _reason_ages,
    _reason_boolean,
    _reason_race,
    _reason_robot,
    _reason_sequence,
)
from read_ray.content.probe_items.steerability import _steer_instructions, _steer_json
from read_ray.content.probe_items.tool_use import _tool_call

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
BUILDERS: dict[str, Callable[[random.Random], _Draft]] = {
    "gk_fact": _gk_fact,
    "instructions": _steer_instructions,
    "json": _steer_json,
    "race": _reason_race,
    "ages": _reason_ages,
    "sequence": _reason_sequence,
    "boolean": _reason_boolean,
    "robot": _reason_robot,
    "arith": _math_arith,
    "equation": _math_equation,
    "percent": _math_percent,
    "word": _math_word,
    "divisors": _math_divisors,
    "function": _code_function,
    "output": _code_output,
    "tool_call": _tool_call,
    "needle": _lc_needle,
    "lookup": _lc_lookup,
    "sum": _lc_sum,
    "ml_problem": _ml_problem,
    "ml_capital": _ml_capital,
    "ml_translate": _ml_translate,
}
