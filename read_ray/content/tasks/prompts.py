"""Prompt formats of the downstream tasks, shared by pool items and the exemplars written into the card YAML,
and the canonical text of a BFCL call (:func:`format_call`, the gold answer of a ``bfcl_simple`` item).

stdlib only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "LETTERS",
    "bfcl_prompt",
    "code_gold",
    "format_call",
    "gsm8k_gold",
    "gsm8k_prompt",
    "humaneval_prompt",
    "mbpp_prompt",
    "mc_prompt",
    "python_literal",
    "resolve_literal",
]

_GSM8K_INSTRUCTION = "Solve the problem step by step. End with a final line of the form '#### <number>'."
_CODE_FENCE_INSTRUCTION = "Reply with the complete Python function in a single ```python code block."
_MC_INSTRUCTION = "Reply with the text of the correct option."
_TOOL_INSTRUCTION = (
    "Reply with only the function call in Python syntax, for example func_name(param1=value1, param2=value2)."
)
LETTERS = "ABCDEFGHIJ"


def gsm8k_prompt(question: str) -> str:
    return f"{question.strip()}\n\n{_GSM8K_INSTRUCTION}"


def gsm8k_gold(solution: str) -> str:
    """GSM8K's worked solution without its calculator annotations (``<<16-3-4=9>>``)."""
    return re.sub(r"<<[^<>]*>>", "", solution).strip()


def humaneval_prompt(code_prompt: str) -> str:
    return f"Complete the following Python function. {_CODE_FENCE_INSTRUCTION}\n\n```python\n{code_prompt}```"


def mbpp_prompt(text: str, tests: Sequence[str]) -> str:
    joined = "\n".join(t.strip() for t in tests)
    return f"{text.strip()}\nYour code should pass these tests:\n{joined}\n\n{_CODE_FENCE_INSTRUCTION}"


def code_gold(code: str) -> str:
    """Code in a ```python fence, line endings normalised and trailing whitespace dropped."""
    lines = code.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    body = "\n".join(line.rstrip() for line in lines)
    return f"```python\n{body}\n```"


def mc_prompt(question: str, choices: Sequence[str], subject: str | None = None) -> str:
    head = (
        f"The following is a multiple choice question about {subject.replace('_', ' ')}.\n\n"
        if subject
        else ""
    )
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{head}{question.strip()}\n{options}\n\n{_MC_INSTRUCTION}"


def bfcl_prompt(function: Mapping[str, Any], request: str) -> str:
    spec = json.dumps(function, ensure_ascii=False)
    return f"You can call this function:\n{spec}\n\nRequest: {request.strip()}\n\n{_TOOL_INSTRUCTION}"


def python_literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _canonical_value(options: object) -> tuple[bool, object]:
    """(include?, value) for one parameter of a BFCL possible answer: its first allowed value.

    Optional parameters (``""`` among the allowed values) are left out. Dicts inside an allowed value are
    nested specs (key -> allowed values) and are resolved recursively; anything else is a literal.
    """
    if not isinstance(options, list):
        return True, resolve_literal(options)
    if "" in options or not options:
        return False, None
    return True, resolve_literal(options[0])


def resolve_literal(value: object) -> object:
    if isinstance(value, dict):
        nested = {}
        for key, sub in value.items():
            include, sub_value = _canonical_value(sub)
            if include:
                nested[key] = sub_value
        return nested
    if isinstance(value, list):
        return [resolve_literal(v) for v in value]
    return value


def format_call(
    possible_answer: Mapping[str, Mapping[str, object]], function: Mapping[str, Any] | None = None
) -> str:
    """The canonical call of a BFCL possible answer, in Python syntax: ``f(a=1, b="x")``.

    Optional parameters are left out, except those the ``function`` schema marks required (BFCL's checker
    refuses a call without them, even where the possible answer also allows leaving them out).
    """
    ((name, params),) = possible_answer.items()
    required = set(((function or {}).get("parameters") or {}).get("required") or ())
    args = []
    for key, options in params.items():
        include, value = _canonical_value(options)
        if not include and key in required and isinstance(options, list):
            include, value = _canonical_value([o for o in options if o != ""])
        if include:
            args.append(f"{key}={python_literal(value)}")
    return f"{name}({', '.join(args)})"
