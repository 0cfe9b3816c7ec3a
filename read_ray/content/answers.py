"""Graders of verifiable answers that need no model: final numbers (GSM8K style), JSON, and code run against
tests in the sandbox. Tool calls are read and checked in :mod:`read_ray.content.tool_calls`, fenced code
blocks in :mod:`read_ray.content.fences`. The task metrics (:mod:`read_ray.content.tasks.metrics`) and the
probe checkers (:mod:`read_ray.content.probe_items.checks`) grade with these.

stdlib only (the sandbox runs code in a subprocess).
"""

from __future__ import annotations

import json
import re
from decimal import Context, Decimal, InvalidOperation, localcontext

from read_ray.content.fences import fenced_blocks
from read_ray.content.sandbox import SandboxError, SandboxLimits, check_program

__all__ = [
    "CODE_CPU_TIME_S",
    "DECIMAL_ABS_TOL",
    "EXACT",
    "code_passes",
    "code_wall_backstop_s",
    "extract_final_number",
    "extract_json",
    "normalise_number",
    "numbers_match",
]


# ----------------------------------------------------------------------------------------------------------
# Numbers

EXACT = Context(prec=4000)
"""Answers are parsed and compared at this precision, whatever the global decimal context says (libraries
set its precision: reasoning-gym does while generating prompts)."""
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|[-+]?\.\d+"
_NUMBER_RE = re.compile(rf"(?<![\w.])(?:{_NUMBER})")
_MARKERS = (
    re.compile(r"####\s*\$?\s*"),
    re.compile(r"(?:final answer|the answer|answer)\s*(?:is|=|:)?\s*[:=]?\s*\\?(?:boxed\{)?\s*\$?\s*", re.I),
)


def normalise_number(text: str) -> str | None:
    """Canonical form of one number: no thousands separators, no '+', no trailing zeros ('42.0' -> '42')."""
    cleaned = text.replace(",", "").replace("$", "").strip()
    with localcontext(EXACT):          # never the global context: libraries set its precision (reasoning-gym)
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            return None
        if not value.is_finite():
            return None
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")


def extract_final_number(text: str) -> str | None:
    """The final answer number of a free-text solution, normalised (``"1,234"`` -> ``"1234"``, ``"3.50"`` -> ``"3.5"``).

    Preference order: the first number after the last ``####`` (GSM8K's answer marker); else the first number
    after the last "answer is" / "answer:" phrase; else the last number in the text. None if there is none.
    """
    if not text:
        return None
    for marker in _MARKERS:
        hits = list(marker.finditer(text))
        if hits:
            match = _NUMBER_RE.search(text, hits[-1].end())
            if match is not None and match.start() - hits[-1].end() <= 3:
                return normalise_number(match.group())
    numbers = _NUMBER_RE.findall(text)
    return normalise_number(numbers[-1]) if numbers else None


DECIMAL_ABS_TOL = Decimal("1e-6")
"""Absolute tolerance of :func:`numbers_match` when the gold answer has a fractional part."""


def numbers_match(prediction: str | None, gold: str) -> bool:
    """True if ``prediction`` and ``gold`` are the same number (both may be raw text).

    An integer gold (after normalisation: ``"1,000,000"``, ``"18.00"``) must be matched exactly, whatever its
    size: ``999999`` is not ``1000000``. A gold with a fractional part is matched within the absolute
    tolerance :data:`DECIMAL_ABS_TOL` (``3.5`` matches ``3.5000004``, not ``3.51``). No relative tolerance.
    """
    if prediction is None or gold is None:
        return False
    pred = normalise_number(prediction)
    if pred is None:
        pred = extract_final_number(prediction)
    ref = normalise_number(gold)
    if ref is None:
        ref = extract_final_number(gold)
    if pred is None or ref is None:
        return False
    with localcontext(EXACT):
        a, b = Decimal(pred), Decimal(ref)
        if b == b.to_integral_value():
            return a == b
        return abs(a - b) <= DECIMAL_ABS_TOL


# ----------------------------------------------------------------------------------------------------------
# JSON

_MAX_SCAN = 200  # opening brackets tried before giving up


def extract_json(text: str) -> object | None:
    """The first JSON object or array in ``text``: inside a ``` fence first, else anywhere; None if none parses."""
    if not text:
        return None
    decoder = json.JSONDecoder()
    for _, block in fenced_blocks(text):
        found = _scan_json(decoder, block)
        if found is not None:
            return found
    return _scan_json(decoder, text)


def _scan_json(decoder: json.JSONDecoder, text: str) -> object | None:
    tried = 0
    for match in re.finditer(r"[\[{]", text):
        tried += 1
        if tried > _MAX_SCAN:
            break
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(value, (dict, list)):
            return value
    return None


# ----------------------------------------------------------------------------------------------------------
# Code


CODE_CPU_TIME_S = 10
"""Default CPU-time limit (``RLIMIT_CPU``) of one code check; the wall clock is only a backstop."""


def code_wall_backstop_s(cpu_time_s: float) -> float:
    """The wall-clock backstop for a CPU limit: 4x it (at least 20 s), so a busy machine never decides."""
    return max(20.0, 4.0 * cpu_time_s)


def code_passes(
    program: str,
    test_code: str,
    *,
    cpu_time_s: int = CODE_CPU_TIME_S,
    wall_time_s: float | None = None,
) -> bool:
    """True iff ``test_code`` run after ``program`` in the sandbox ran to its last statement.

    Exits (``sys.exit(0)``, ``os._exit(0)``, ...), ``__main__`` blocks (not run), crashes and kills before
    the end are failures (:func:`read_ray.content.sandbox.check_program`). The limit is ``cpu_time_s`` of CPU
    time; ``wall_time_s`` (default :func:`code_wall_backstop_s`) only stops programs that sleep or block.
    """
    if not program.strip():
        return False
    wall = code_wall_backstop_s(cpu_time_s) if wall_time_s is None else float(wall_time_s)
    limits = SandboxLimits(wall_time_s=wall, cpu_time_s=int(cpu_time_s))
    try:
        return check_program(program, test_code, limits=limits)
    except SandboxError:
        return False
