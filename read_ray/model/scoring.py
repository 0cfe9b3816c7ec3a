"""Scoring helpers shared by probes and downstream tasks: answer log-likelihoods and answer checkers.

- :func:`answer_logliks` / :func:`mean_token_logliks`: log p(answer | prompt) under a causal LM, batched
  with right padding. The smooth ``teacher_loglik`` probe score and the tasks' ``gold_loglik`` use it.
- Checkers for verifiable answers: final numbers (GSM8K style), JSON, tool calls (JSON or Python-call
  syntax) against BFCL ``possible_answer`` entries, and code run against tests in the sandbox.

torch + transformers + stdlib only (no ray).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Sequence
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

import torch

from read_ray.content.sandbox import SandboxError, SandboxLimits, check_program

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "CODE_CPU_TIME_S",
    "DECIMAL_ABS_TOL",
    "answer_logliks",
    "code_passes",
    "code_wall_backstop_s",
    "extract_final_number",
    "extract_json",
    "mean_token_logliks",
    "normalise_number",
    "numbers_match",
    "parse_tool_calls",
    "tool_call_matches",
]


# ----------------------------------------------------------------------------------------------------------
# Log-likelihoods


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _fallback_start_id(tokenizer) -> int | None:
    """A token to condition on when the prompt is empty (so the first answer token has a context)."""
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return None


def _encode_pair(tokenizer, prompt: str, answer: str, max_length: int) -> tuple[list[int], int] | None:
    """Token ids of prompt + answer and the number of prompt ids; None for an empty answer.

    The prompt is truncated from the left so that the total fits ``max_length``; if the answer alone does not
    fit, it keeps its first ``max_length - 1`` tokens after one prompt token (only those are scored).
    """
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"]) if answer else []
    if not answer_ids:
        return None
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else []
    if not prompt_ids:
        start = _fallback_start_id(tokenizer)
        if start is None:
            raise ValueError("empty prompt and the tokenizer has no bos/eos/pad token to condition on")
        prompt_ids = [start]
    if len(answer_ids) > max_length - 1:
        answer_ids = answer_ids[: max_length - 1]
    room = max_length - len(answer_ids)
    if len(prompt_ids) > room:
        prompt_ids = prompt_ids[len(prompt_ids) - room :]
    return prompt_ids + answer_ids, len(prompt_ids)


@torch.no_grad()
def answer_logliks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 8,
    max_length: int = 1024,
) -> list[tuple[float, int]]:
    """For each (prompt, answer): (sum of log p(answer tokens | prompt tokens), number of answer tokens).

    The prompt text is used as given (callers apply chat templates; the rendered template already holds its
    special tokens). Prompt and answer are tokenised separately with ``add_special_tokens=False`` and their
    ids concatenated, so the scored tokens are exactly ``tokenizer(answer)``. An empty prompt is replaced by
    one bos (else eos) token. Pairs are sorted by length and run in right-padded batches with attention
    masks; padding does not change the result. If prompt + answer exceed ``max_length`` tokens the prompt is
    truncated from the left (an answer longer than ``max_length - 1`` keeps its first tokens, and the count
    says how many were scored). An empty answer gives ``(0.0, 0)``.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"got {len(prompts)} prompts but {len(answers)} answers")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    results: list[tuple[float, int]] = [(0.0, 0)] * len(prompts)
    encoded: list[tuple[int, list[int], int]] = []
    for index, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        pair = _encode_pair(tokenizer, prompt, answer, max_length)
        if pair is not None:
            encoded.append((index, *pair))
    if not encoded:
        return results
    encoded.sort(key=lambda item: len(item[1]), reverse=True)
    device = _model_device(model)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    pad_id = int(pad_id) if pad_id is not None else 0
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for _, ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (_, ids, _) in enumerate(chunk):
                input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention[row, : len(ids)] = 1
            # Only positions that predict an answer token need logits: from the earliest answer start on.
            first = min(n_prompt for _, _, n_prompt in chunk) - 1
            logits, offset = _logits_from(model, input_ids.to(device), attention.to(device), width - first)
            for row, (index, ids, n_prompt) in enumerate(chunk):
                n_answer = len(ids) - n_prompt
                lo = n_prompt - 1 - offset
                row_logits = logits[row, lo : lo + n_answer].float()
                targets = torch.tensor(ids[n_prompt:], dtype=torch.long, device=row_logits.device)
                logp = torch.log_softmax(row_logits, dim=-1).gather(-1, targets[:, None]).squeeze(-1)
                results[index] = (float(logp.sum().item()), n_answer)
    finally:
        if was_training:
            model.train()
    return results


def _logits_from(
    model, input_ids: torch.Tensor, attention: torch.Tensor, keep: int
) -> tuple[torch.Tensor, int]:
    """Logits for the last ``keep`` positions (all positions if the model has no ``logits_to_keep``).

    Returns the logits and the sequence position of their first column.
    """
    width = input_ids.shape[1]
    try:
        out = model(input_ids=input_ids, attention_mask=attention, logits_to_keep=keep, use_cache=False)
    except TypeError:
        out = model(input_ids=input_ids, attention_mask=attention, use_cache=False)
    logits = out.logits
    return logits, width - logits.shape[1]


def mean_token_logliks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    **kw: Any,
) -> list[float]:
    """Mean per-token log-likelihood of each answer (sum / n; ``nan`` for an empty answer)."""
    return [
        total / n if n else math.nan for total, n in answer_logliks(model, tokenizer, prompts, answers, **kw)
    ]


# ----------------------------------------------------------------------------------------------------------
# Numbers

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
EXACT = Context(prec=4000)   # answers are parsed and compared at this precision, whatever the global context says
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
# JSON and tool calls

_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.S)
_MAX_SCAN = 200


def _fenced_blocks(text: str) -> list[str]:
    return [m.group(2) for m in _FENCE_RE.finditer(text)]


def extract_json(text: str) -> object | None:
    """The first JSON object or array in ``text``: inside a ``` fence first, else anywhere; None if none parses."""
    if not text:
        return None
    decoder = json.JSONDecoder()
    for block in _fenced_blocks(text):
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


_ARG_KEYS = ("arguments", "parameters", "args", "params")


def _call_from_json(obj: object) -> dict | None:
    """{"name": ..., "arguments": {...}} (also OpenAI-style {"function": {...}}, or BFCL's {name: {args}})."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict) and "name" not in obj:
        obj = obj["function"]
    name = obj.get("name")
    if isinstance(name, str) and name:
        args: object = {}
        for key in _ARG_KEYS:
            if key in obj:
                args = obj[key]
                break
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                return None
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return None
        return {"name": name, "arguments": args}
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if isinstance(key, str) and isinstance(value, dict):
            return {"name": key, "arguments": value}
    return None


def _calls_from_json(obj: object) -> list[dict] | None:
    if isinstance(obj, dict):
        for key in ("tool_calls", "function_calls", "calls"):
            if isinstance(obj.get(key), list):
                return _calls_from_json(obj[key])
        call = _call_from_json(obj)
        return [call] if call is not None else None
    if isinstance(obj, list) and obj:
        calls = [_call_from_json(item) for item in obj]
        if all(call is not None for call in calls):
            return calls  # type: ignore[return-value]
    return None


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted_name(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _call_from_ast(node: ast.expr) -> dict | None:
    if not isinstance(node, ast.Call) or node.args:
        return None  # positional arguments cannot be named without the schema
    name = _dotted_name(node.func)
    if name is None:
        return None
    args: dict[str, object] = {}
    for keyword in node.keywords:
        if keyword.arg is None:  # **kwargs
            return None
        try:
            args[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return {"name": name, "arguments": args}


def _calls_from_python(source: str) -> list[dict] | None:
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    body = tree.body
    nodes = list(body.elts) if isinstance(body, (ast.List, ast.Tuple)) else [body]
    if not nodes:
        return None
    calls = [_call_from_ast(node) for node in nodes]
    if any(call is None for call in calls):
        return None
    return calls  # type: ignore[return-value]


_CALL_START_RE = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(|(?<![\w.])[A-Za-z_][\w.]*\s*\(")


def _search_python_calls(text: str) -> list[dict] | None:
    """The first substring of ``text`` that parses as a call (or a list of calls)."""
    ends = [i for i, ch in enumerate(text) if ch in ")]"][::-1][:_MAX_SCAN]
    for tried, match in enumerate(_CALL_START_RE.finditer(text)):
        if tried >= 20:
            break
        for end in ends:
            if end <= match.start():
                break
            calls = _calls_from_python(text[match.start() : end + 1])
            if calls is not None:
                return calls
    return None


def parse_tool_calls(text: str) -> list[dict] | None:
    """Tool calls in a model's output as ``[{"name": str, "arguments": dict}]``; None if there are none.

    Accepted forms (optionally inside a ``` fence or surrounded by prose): JSON ``{"name": ..., "arguments":
    {...}}`` ("parameters"/"args" also accepted, arguments may be a JSON string), a list of those,
    ``{"tool_calls": [...]}``, BFCL's ``{func: {args}}``; and Python-call syntax ``func(a=1, b="x")`` or
    ``[f(a=1), g(b=2)]`` parsed with :mod:`ast` (keyword arguments with literal values only; positional
    arguments or non-literal values make the call unparseable).
    """
    if not text or not text.strip():
        return None
    candidates = [*_fenced_blocks(text), text]
    for candidate in candidates:
        calls = _calls_from_python(candidate)
        if calls is not None:
            return calls
        obj = extract_json(candidate)
        if obj is not None:
            calls = _calls_from_json(obj)
            if calls is not None:
                return calls
    return _search_python_calls(text)


# BFCL's string standardisation (bfcl_eval ast_checker.standardize_string): drop spaces and , . / - _ * ^,
# lower-case, single quotes as double quotes.
_STRING_NOISE_RE = re.compile(r"[ ,./\-_*^]")


def _standardise_string(value: str) -> str:
    return _STRING_NOISE_RE.sub("", value).lower().replace("'", '"')


def _options(spec: object) -> list:
    return spec if isinstance(spec, list) else [spec]


# --- without a schema (our probes' possible answers): the allowed values alone decide ---------------------


def _value_matches(value: object, allowed: object) -> bool:
    """One given value against one allowed value (recursively for lists and BFCL-style nested dicts).

    Numbers compare exactly (``5 == 5.0``; no tolerance); bools only equal bools.
    """
    if isinstance(allowed, bool) or isinstance(value, bool):
        return isinstance(allowed, bool) and isinstance(value, bool) and value == allowed
    if isinstance(allowed, (int, float)):
        return isinstance(value, (int, float)) and value == allowed
    if isinstance(allowed, str):
        return isinstance(value, str) and _standardise_string(value) == _standardise_string(allowed)
    if allowed is None:
        return value is None
    if isinstance(allowed, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(allowed):
            return False
        return all(_value_matches(v, a) for v, a in zip(value, allowed, strict=True))
    if isinstance(allowed, dict):
        return isinstance(value, dict) and _args_match(value, allowed)
    return value == allowed


def _args_match(args: dict, spec: dict) -> bool:
    """Every given arg known and allowed; every required (no "" among the allowed values) arg present."""
    for key, value in args.items():
        if key not in spec or not any(_value_matches(value, o) for o in _options(spec[key]) if o != ""):
            return False
    return all(key in args or "" in _options(options) for key, options in spec.items())


# --- with the function's schema: BFCL's simple_function_checker (Python) ----------------------------------

# bfcl_eval ast_checker.PYTHON_TYPE_MAPPING, plus the JSON-schema names our probe schemas use.
_SCHEMA_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": str,
}


def _bfcl_type_ok(value: object, allowed: list, expected: type, nested: type | None) -> tuple[bool, bool]:
    """BFCL's ``type_checker``: (valid, is_variable). Exact types (``type(v) is int``: no float, no bool for
    an integer); a value of the allowed values' own type counts as a "variable" (compared as is)."""
    answer_type = next((type(a) for a in allowed if a != ""), None)
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if nested is None:
            return True, is_variable
        for option in allowed:  # one level deep, as BFCL; a non-list option (e.g. "") passes, as in BFCL
            if not isinstance(option, list) or all(
                _bfcl_type_ok(item, option, nested, None)[0]
                for item in value  # type: ignore[attr-defined]
            ):
                return True, is_variable
        return False, is_variable
    if answer_type is not None and type(value) is answer_type:
        return True, True
    return False, is_variable


def _bfcl_standard(value: object) -> object:
    return _standardise_string(value) if isinstance(value, str) else value


def _bfcl_dict_ok(value: dict, allowed: list) -> bool:
    """BFCL's ``dict_checker``: some allowed dict spec accepts every key and value; its required keys present."""
    for option in allowed:
        if option == "" or not isinstance(option, dict):
            continue
        if all(
            key in option and _bfcl_standard(v) in [_bfcl_standard(o) for o in _options(option[key])]
            for key, v in value.items()
        ) and all(key in value or "" in _options(opts) for key, opts in option.items()):
            return True
    return False


def _bfcl_list_of_dicts_ok(value: list, allowed: list) -> bool:
    """BFCL's ``list_dict_checker``: same length as some allowed list, element-wise ``dict_checker``."""
    return any(
        isinstance(option, list)
        and len(option) == len(value)
        and all(isinstance(v, dict) and _bfcl_dict_ok(v, [o]) for v, o in zip(value, option, strict=True))
        for option in allowed
    )


def _bfcl_list_ok(value: list, allowed: list) -> bool:
    """BFCL's ``list_checker``: the list (strings standardised) equals one allowed list, in order.

    As in BFCL, the optional marker ``""`` counts as the empty list."""
    given = [_bfcl_standard(v) for v in value]
    return any(
        given == [_bfcl_standard(o) for o in (option if isinstance(option, list) else [])]
        for option in allowed
        if isinstance(option, list) or option == ""
    )


def _bfcl_args_match(args: dict, spec: dict, function: dict) -> bool:
    """``bfcl_eval``'s ``simple_function_checker`` for Python: required parameters of the schema present;
    every given parameter in the schema and in the possible answer, of the schema's type (an int for a
    ``float`` is converted, as Python would; a tuple for a ``tuple`` is a list), and one of the allowed values
    (strings, lists and dicts standardised as BFCL does); every parameter of the possible answer without
    ``""`` among its values present. A schema type BFCL does not know is not type-checked."""
    params = function.get("parameters") or {}
    properties = params.get("properties") or {}
    if any(name not in args for name in params.get("required") or ()):
        return False
    for key, value in args.items():
        if key not in properties or key not in spec:
            return False
        allowed = _options(spec[key])
        detail = properties[key] if isinstance(properties[key], dict) else {}
        type_name = detail.get("type")
        expected = _SCHEMA_TYPES.get(type_name) if isinstance(type_name, str) else None
        nested = None
        if type_name in ("array", "tuple"):
            item_type = (detail.get("items") or {}).get("type")
            nested = _SCHEMA_TYPES.get(item_type) if isinstance(item_type, str) else None
        if type_name == "tuple" and type(value) is tuple:
            value = list(value)
        if expected is float and type(value) is int:
            value = float(value)
        is_variable = False
        if expected is not None:
            valid, is_variable = _bfcl_type_ok(value, allowed, expected, nested)
            if not valid:
                return False
        if not is_variable and expected is dict:
            ok = isinstance(value, dict) and _bfcl_dict_ok(value, allowed)
        elif not is_variable and expected is list and nested is dict:
            ok = isinstance(value, list) and _bfcl_list_of_dicts_ok(value, allowed)
        elif not is_variable and expected is str:
            ok = isinstance(value, str) and _standardise_string(value) in [
                _standardise_string(o) for o in allowed if isinstance(o, str)
            ]
        elif not is_variable and expected is list:
            ok = isinstance(value, list) and _bfcl_list_ok(value, allowed)
        else:
            ok = value in allowed
        if not ok:
            return False
    return all(key in args or "" in _options(options) for key, options in spec.items())


def _normalise_name(name: str) -> str:
    return name.strip().replace(".", "_")


def tool_call_matches(call: dict, possible_answer: dict, function: dict | None = None) -> bool:
    """BFCL ``possible_answer`` check of one parsed call.

    ``possible_answer`` is ``{func_name: {param: [allowed values...]}}`` (one entry of BFCL's
    ``ground_truth`` list). The function names must match (BFCL's '.' -> '_' renaming is accepted).

    With ``function`` (the call's schema: ``{"name", "parameters": {"properties", "required"}}``) the check
    is BFCL's own ``simple_function_checker`` for Python: a parameter the schema marks required must be
    present, types are exact (an ``integer`` parameter refuses ``5.0`` and ``True``; a ``float`` accepts an
    int), and values must be among the allowed ones (strings case-insensitively ignoring spaces and BFCL's
    punctuation set; lists in order; dicts per key).

    Without a schema the allowed values alone decide: every given argument must be a known parameter whose
    value is one of the allowed values (numbers equal exactly, int and float interchangeable; strings as
    above; lists element-wise; nested dicts recursively), and every parameter whose allowed list does not
    contain ``""`` must be present.
    """
    if not isinstance(call, dict) or not isinstance(possible_answer, dict):
        return False
    name = call.get("name")
    args = call.get("arguments")
    if not isinstance(name, str) or not isinstance(args, dict):
        return False
    for func, spec in possible_answer.items():
        if not isinstance(spec, dict):
            continue
        if func == name or _normalise_name(func) == _normalise_name(name):
            if function is None:
                return _args_match(args, spec)
            return _bfcl_args_match(args, spec, function)
    return False


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
