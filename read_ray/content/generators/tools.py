"""Tool use: a request needing 1..k calls of synthetic JSON-schema functions (``tool_functions``);
answer = the expected calls."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from read_ray.content.generators.common import _join_and, _Procedural
from read_ray.content.generators.tool_functions import _FN_BY_DOMAIN, _FUNCTIONS, _Fn, _Param
from read_ray.content.generators.vocab import _CITIES

__all__ = ["ToolSchemaSource"]

_AIRPORTS = (
    "LIS",
    "NBO",
    "KIX",
    "YYZ",
    "KRK",
    "HAN",
    "AKL",
    "RAK",
    "KEF",
    "BOG",
    "TLL",
    "PER",
    "MAA",
    "SVQ",
    "CPH",
    "ATH",
    "DUB",
    "MEX",
)
_PEOPLE = (
    "ana.silva",
    "kofi.mensah",
    "li.wei",
    "maria.rossi",
    "james.okoro",
    "sofia.berg",
    "ravi.nair",
    "elena.petrova",
    "tom.keller",
    "aiko.tanaka",
)
_DOMAINS = ("example.com", "example.org", "mail.example.net")
_SUBJECTS = (
    "Quarterly report",
    "Lunch on Friday",
    "Updated contract",
    "Travel plans",
    "Invoice 2291",
    "Team offsite",
    "Password reset",
    "Welcome aboard",
)
_BODIES = (
    "The figures are ready for review.",
    "Can we move the meeting to 3 pm?",
    "Please sign the attached document by Monday.",
    "I will be out of office next week.",
    "Thanks for your help with the launch.",
    "The delivery will arrive on Thursday.",
)
_QUERIES = (
    "wireless headphones",
    "running shoes",
    "espresso machine",
    "yoga mat",
    "desk lamp",
    "hiking backpack",
    "mechanical keyboard",
    "cast iron pan",
    "winter jacket",
    "board game",
)
_TICKERS = ("ACME", "GLBX", "NOVA", "QTMX", "ZENX", "ORBT", "HLIX", "PRSM")
_TITLES = (
    "Sprint planning",
    "Dentist appointment",
    "Budget review",
    "Book club",
    "Client call",
    "Yoga class",
    "Parent-teacher meeting",
    "Code review",
)
_PRODUCT_IDS = tuple(f"PRD-{n}" for n in (10422, 20931, 33871, 48120, 51277, 60493, 71234, 89016))


def _tool_value(rng: random.Random, param: _Param) -> Any:
    kind, *args = param.sampler.split(":")
    if kind == "enum":
        return rng.choice(param.enum)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        low, high = int(args[0]), int(args[1])
        step = int(args[2]) if len(args) > 2 else 1
        return rng.randrange(low, high + 1, step)
    if kind == "num":
        low, high = float(args[0]), float(args[1])
        value = round(rng.uniform(low, high), rng.randint(0, int(args[2]) if len(args) > 2 else 2))
        return int(value) if value == int(value) else value
    if kind == "city":
        return rng.choice(_CITIES)
    if kind == "airport":
        return rng.choice(_AIRPORTS)
    if kind == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "time":
        return f"{rng.randint(7, 21):02d}:{rng.choice((0, 15, 30, 45)):02d}"
    if kind == "flight":
        return f"{rng.choice(('TP', 'KQ', 'NH', 'AC', 'LO', 'VN', 'FI'))} {rng.randint(100, 9899)}"
    if kind == "account":
        return f"ACC-{rng.randint(100000, 999999)}"
    if kind == "event":
        return f"EVT-{rng.randint(1000, 9999)}"
    if kind == "order":
        return f"ORD-{rng.randint(100000, 999999)}"
    if kind == "restaurant":
        return f"RST-{rng.randint(1000, 9999)}"
    if kind == "product":
        return rng.choice(_PRODUCT_IDS)
    if kind == "email":
        return f"{rng.choice(_PEOPLE)}@{rng.choice(_DOMAINS)}"
    if kind == "phone":
        return f"+{rng.choice(('351', '254', '81', '1', '48', '84'))}{rng.randint(10**8, 10**9 - 1)}"
    if kind == "memo":
        return rng.choice(("rent", "dinner", "birthday gift", "invoice 2291", "car repair", "holiday"))
    if kind == "subject":
        return rng.choice(_SUBJECTS)
    if kind == "body":
        return rng.choice(_BODIES)
    if kind == "query":
        return rng.choice(_QUERIES)
    if kind == "ticker":
        return rng.choice(_TICKERS)
    if kind == "title":
        return rng.choice(_TITLES)
    raise ValueError(f"unknown sampler {param.sampler!r}")


def _tool_schema(fn: _Fn) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for param in fn.params:
        spec: dict[str, Any] = {"type": param.type, "description": param.description}
        if param.enum:
            spec["enum"] = list(param.enum)
        properties[param.name] = spec
    return {
        "name": fn.name,
        "description": fn.description,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": [p.name for p in fn.params if p.required],
        },
    }


def _tool_call(rng: random.Random, fn: _Fn) -> tuple[dict[str, Any], str]:
    """(call, request sentence) for one call of ``fn``."""
    arguments: dict[str, Any] = {}
    shown: dict[str, str] = {}
    extras: list[str] = []
    taken: dict[str, set[Any]] = {}  # parameters sharing a sampler get distinct values (from != to)
    params = [param for param in fn.params if param.required or rng.random() < 0.5]
    values = []
    for param in params:
        seen = taken.setdefault(param.sampler + "|".join(param.enum), set())
        value = _tool_value(rng, param)
        while param.type != "boolean" and value in seen:
            value = _tool_value(rng, param)
        seen.add(value)
        values.append(value)
    dates = sorted(v for p, v in zip(params, values, strict=True) if p.sampler == "date")  # start before end
    values = [dates.pop(0) if p.sampler == "date" else v for p, v in zip(params, values, strict=True)]
    for param, value in zip(params, values, strict=True):
        if param.type == "boolean" and param.required:
            shown[param.name] = "on" if value else "off"
        else:
            shown[param.name] = str(value)
        arguments[param.name] = value
        if not param.required:
            if param.type == "boolean":
                extras.append(param.phrase if value else param.phrase_false)
            else:
                extras.append(param.phrase.format(**{param.name: value}))
    ask = fn.ask.format(**shown)
    if extras:
        end = ask[-1] if ask[-1] in "?." else ""
        ask = f"{ask.rstrip('?.')}, {_join_and(extras)}{end}"
    if ask[-1] not in "?." and not ask.endswith((".'", "?'")):
        ask += "."
    return {"name": fn.name, "arguments": arguments}, ask


_CONNECTORS = ("Also, ", "After that, ", "Then ", "And ", "Next, ")


@dataclass(frozen=True)
class ToolSchemaSource(_Procedural):
    """Offer 1+ synthetic functions (JSON schemas) and a request that needs ``min_calls..max_calls`` calls.
    Answer = JSON array of the expected calls. Factors: functions offered, calls, arguments, distractors."""

    source_id: str = ""
    capability: str = "tool_use"
    min_calls: int = 1
    max_calls: int = 4
    max_distractors: int = 6
    max_new_tokens: int | None = 384

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.min_calls <= self.max_calls:
            raise ValueError(f"{self.source_id}: need 1 <= min_calls <= max_calls")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        n_calls = rng.randint(self.min_calls, self.max_calls)
        domain = rng.choice(sorted(_FN_BY_DOMAIN))
        calls: list[dict[str, Any]] = []
        asks: list[str] = []
        used: list[_Fn] = []
        for _ in range(n_calls):
            # mostly the same domain (a coherent request), sometimes another one
            pool = _FN_BY_DOMAIN[domain] if rng.random() < 0.7 else _FUNCTIONS
            fn = rng.choice(pool)
            call, ask = _tool_call(rng, fn)
            if call in calls:  # an identical repeated call adds nothing
                continue
            calls.append(call)
            asks.append(ask)
            if fn not in used:
                used.append(fn)
        n_distractors = rng.randint(0, self.max_distractors)
        others = [fn for fn in _FUNCTIONS if fn not in used]
        same_domain = [fn for fn in others if fn.domain == domain]
        rng.shuffle(same_domain)
        rest = [fn for fn in others if fn.domain != domain]
        rng.shuffle(rest)
        distractors = (same_domain[: n_distractors // 2 + n_distractors % 2] + rest)[:n_distractors]
        offered = used + distractors
        rng.shuffle(offered)
        request = asks[0] + "".join(" " + rng.choice(_CONNECTORS) + a[:1].lower() + a[1:] for a in asks[1:])
        schemas = "\n".join(json.dumps(_tool_schema(fn), ensure_ascii=False) for fn in offered)
        text = (
            'You can call the following functions; each is given as a JSON object whose "parameters" field '
            f"is a JSON Schema.\n\n{schemas}\n\nUser: {request}\n\n"
            "Reply with only a JSON array of the function calls that fulfil the request, in the order given, "
            'each an object {"name": <function name>, "arguments": {<parameter>: <value>}}. Include every '
            "required parameter and only those optional parameters the user asked for, with JSON types "
            "matching the schema."
        )
        factors = {
            "functions": len(offered),
            "calls": len(calls),
            "arguments": sum(len(call["arguments"]) for call in calls),
            "distractors": len(distractors),
        }
        return text, factors, json.dumps(calls, ensure_ascii=False)
