"""Tool calls in a model's answer: parsing (JSON or Python-call syntax) and checking one call against a BFCL
``possible_answer`` entry, with BFCL's own ``simple_function_checker`` rules when the function's schema is
known. The task metric ``ast_match`` and the probes' ``tool_call`` checker grade with these.

stdlib only.
"""

from __future__ import annotations

import ast
import json
import re

from read_ray.content.answers import extract_json
from read_ray.content.fences import fenced_blocks

__all__ = ["parse_tool_calls", "tool_call_matches"]

_MAX_SCAN = 200  # closing brackets tried per call start when a call is searched for inside prose

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
    candidates = [*(body for _, body in fenced_blocks(text)), text]
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


