"""Probe item builders: tool use (our own synthetic function schemas, BFCL-style possible answers)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from read_ray.content.probe_items.common import Draft, pick


def _fn(name: str, description: str, props: dict, required: Sequence[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "dict", "properties": props, "required": list(required)},
    }


_RESTAURANTS = ("Trattoria Lucca", "The Green Fig", "Sakura House", "Casa Morena", "Blue Anchor Grill")
_CURRENCIES = (
    ("euros", "EUR"),
    ("US dollars", "USD"),
    ("Japanese yen", "JPY"),
    ("pounds sterling", "GBP"),
    ("Swiss francs", "CHF"),
    ("Canadian dollars", "CAD"),
)
_ROOMS = ("living room", "bedroom", "office", "kitchen", "nursery")
_CARRIERS = ("dhl", "ups", "fedex", "postnl", "colissimo")
_STATIONS = ("Leeds", "York", "Utrecht", "Lyon", "Bologna", "Graz", "Porto", "Ghent")
_LANGS = (("French", "fr"), ("German", "de"), ("Spanish", "es"), ("Italian", "it"), ("Dutch", "nl"))
_INGREDIENTS = ("lentils", "spinach", "chickpeas", "salmon", "mushrooms", "aubergine", "tofu")
_CITIES_AQ = ("Delhi", "Lagos", "Santiago", "Krakow", "Hanoi", "Denver")


def _date(rng: random.Random) -> str:
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _tool_book_table(rng):
    r, n, t = (
        pick(rng, _RESTAURANTS),
        rng.randint(2, 9),
        f"{rng.randint(17, 21)}:{pick(rng, ('00', '15', '30', '45'))}",
    )
    outdoor = rng.random() < 0.4
    request = f"Could you reserve a table for {n} people at {r} at {t}{' on the terrace' if outdoor else ''}?"
    spec = _fn(
        "reserve_table",
        "Reserve a restaurant table.",
        {
            "restaurant": {"type": "string"},
            "party_size": {"type": "integer"},
            "time": {"type": "string", "description": "24-hour time HH:MM"},
            "outdoor": {"type": "boolean", "description": "terrace seating", "default": False},
        },
        ["restaurant", "party_size", "time"],
    )
    answer = {
        "restaurant": [r],
        "party_size": [n],
        "time": [t],
        "outdoor": [True] if outdoor else ["", False],
    }
    return spec, request, {"reserve_table": answer}


def _tool_currency(rng):
    amount = pick(rng, (rng.randint(5, 900), round(rng.uniform(5, 500), 2)))
    (src_name, src), (dst_name, dst) = rng.sample(_CURRENCIES, 2)
    request = f"How much is {amount} {src_name} in {dst_name} today?"
    spec = _fn(
        "convert_money",
        "Convert an amount between currencies at today's rate.",
        {
            "amount": {"type": "number"},
            "source_currency": {"type": "string", "description": "ISO 4217 code"},
            "target_currency": {"type": "string", "description": "ISO 4217 code"},
        },
        ["amount", "source_currency", "target_currency"],
    )
    return (
        spec,
        request,
        {"convert_money": {"amount": [amount], "source_currency": [src], "target_currency": [dst]}},
    )


def _tool_thermostat(rng):
    room, temp = pick(rng, _ROOMS), pick(rng, (18, 19, 20, 21, 22, 23, 24, 19.5, 20.5, 21.5))
    mode = pick(rng, (None, "heat", "cool"))
    extra = f" using {mode} mode" if mode else ""
    request = f"Set the {room} thermostat to {temp} degrees Celsius{extra}, please."
    spec = _fn(
        "adjust_thermostat",
        "Change a room's target temperature.",
        {
            "room": {"type": "string"},
            "celsius": {"type": "number"},
            "mode": {"type": "string", "enum": ["heat", "cool", "auto"], "default": "auto"},
        },
        ["room", "celsius"],
    )
    return (
        spec,
        request,
        {"adjust_thermostat": {"room": [room], "celsius": [temp], "mode": [mode] if mode else ["", "auto"]}},
    )


def _tool_parcel(rng):
    carrier = pick(rng, _CARRIERS)
    code = "".join(pick(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2)) + str(
        rng.randint(10**7, 10**8 - 1)
    )
    request = f"Where is my parcel? The tracking number is {code} and it was sent with {carrier.upper()}."
    spec = _fn(
        "parcel_status",
        "Current status of a shipment.",
        {"tracking_code": {"type": "string"}, "carrier": {"type": "string", "enum": list(_CARRIERS)}},
        ["tracking_code", "carrier"],
    )
    return spec, request, {"parcel_status": {"tracking_code": [code], "carrier": [carrier]}}


def _tool_reminder(rng):
    note = pick(
        rng,
        (
            "water the tomatoes",
            "call the plumber",
            "renew the library card",
            "pay the gas bill",
            "book the vet",
            "return the drill",
        ),
    )
    day, priority = _date(rng), pick(rng, (None, "high", "low"))
    extra = f" Mark it as {priority} priority." if priority else ""
    request = f'Add a reminder saying "{note}" for {day}.{extra}'
    spec = _fn(
        "add_reminder",
        "Create a reminder on a date.",
        {
            "note": {"type": "string"},
            "date": {"type": "string", "description": "YYYY-MM-DD"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"], "default": "normal"},
        },
        ["note", "date"],
    )
    return (
        spec,
        request,
        {
            "add_reminder": {
                "note": [note],
                "date": [day],
                "priority": [priority] if priority else ["", "normal"],
            }
        },
    )


def _tool_recipes(rng):
    ing, minutes, veg = pick(rng, _INGREDIENTS), pick(rng, (15, 20, 30, 45, 60)), rng.random() < 0.4
    request = f"Find me {'vegetarian ' if veg else ''}recipes with {ing} that take at most {minutes} minutes."
    spec = _fn(
        "find_recipes",
        "Search a recipe collection.",
        {
            "ingredient": {"type": "string"},
            "max_minutes": {"type": "integer"},
            "vegetarian_only": {"type": "boolean", "default": False},
        },
        ["ingredient", "max_minutes"],
    )
    return (
        spec,
        request,
        {
            "find_recipes": {
                "ingredient": [ing],
                "max_minutes": [minutes],
                "vegetarian_only": [True] if veg else ["", False],
            }
        },
    )


def _tool_trains(rng):
    a, b = rng.sample(_STATIONS, 2)
    day = _date(rng)
    request = f"Which trains run from {a} to {b} on {day}?"
    spec = _fn(
        "train_timetable",
        "Departures between two stations on a date.",
        {
            "from_station": {"type": "string"},
            "to_station": {"type": "string"},
            "travel_date": {"type": "string", "description": "YYYY-MM-DD"},
        },
        ["from_station", "to_station", "travel_date"],
    )
    return spec, request, {"train_timetable": {"from_station": [a], "to_station": [b], "travel_date": [day]}}


def _tool_translate(rng):
    text = pick(
        rng,
        (
            "Where is the nearest pharmacy?",
            "The museum opens at nine.",
            "I would like a window seat.",
            "Thank you for the lovely dinner.",
        ),
    )
    lang, code = pick(rng, _LANGS)
    request = f'Translate "{text}" into {lang} for me.'
    spec = _fn(
        "translate",
        "Machine-translate a text.",
        {"text": {"type": "string"}, "target_lang": {"type": "string", "description": "ISO 639-1 code"}},
        ["text", "target_lang"],
    )
    return spec, request, {"translate": {"text": [text], "target_lang": [code, lang]}}


def _tool_loan(rng):
    principal, rate, years = (
        rng.randint(5, 80) * 1000,
        pick(rng, (2.5, 3, 3.75, 4.2, 5, 6.1)),
        rng.randint(2, 30),
    )
    request = f"What would the monthly payment be on a {principal} loan at {rate}% a year over {years} years?"
    spec = _fn(
        "loan_payment",
        "Monthly payment of an amortised loan.",
        {
            "principal": {"type": "number"},
            "annual_rate_pct": {"type": "number"},
            "years": {"type": "integer"},
        },
        ["principal", "annual_rate_pct", "years"],
    )
    return (
        spec,
        request,
        {"loan_payment": {"principal": [principal], "annual_rate_pct": [rate], "years": [years]}},
    )


def _tool_air(rng):
    city, day = pick(rng, _CITIES_AQ), pick(rng, (None, "tomorrow"))
    request = f"How clean is the air in {city}{' going to be tomorrow' if day else ' right now'}?"
    spec = _fn(
        "air_quality",
        "Air-quality index for a city, now or forecast.",
        {
            "city": {"type": "string"},
            "when": {"type": "string", "enum": ["now", "tomorrow"], "default": "now"},
        },
        ["city"],
    )
    return spec, request, {"air_quality": {"city": [city], "when": ["tomorrow"] if day else ["", "now"]}}


_TOOL_BUILDERS = (
    _tool_book_table,
    _tool_currency,
    _tool_thermostat,
    _tool_parcel,
    _tool_reminder,
    _tool_recipes,
    _tool_trains,
    _tool_translate,
    _tool_loan,
    _tool_air,
)


def tool_call(rng: random.Random) -> Draft:
    builders = list(_TOOL_BUILDERS)
    target = pick(rng, builders)
    spec, request, answer = target(rng)
    others = [b for b in builders if b is not target]
    distractors = [b(random.Random(rng.random()))[0] for b in rng.sample(others, rng.randint(1, 2))]
    specs = [spec, *distractors]
    rng.shuffle(specs)
    listing = "\n".join(json.dumps(s, ensure_ascii=False) for s in specs)
    prompt = (
        f"Functions available to the assistant:\n{listing}\n\nUser message: {request}\n\n"
        'Respond with one function call as JSON shaped like {"name": <function>, "arguments": '
        "{<parameter>: <value>}}, and no other text."
    )
    return Draft(prompt, "tool_call", {"possible_answer": answer}, 128)
