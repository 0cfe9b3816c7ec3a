"""Probe item builders: steerability (IFEval-style instructions, JSON objects)."""

from __future__ import annotations

import random

from read_ray.content.probe_items.common import Draft, pick

_IF_TOPICS = (
    "a lighthouse keeper's daily routine",
    "why people collect stamps",
    "the life of honeybees",
    "a rainy market day",
    "caring for a houseplant",
    "an old railway station",
    "the first day at a new job",
    "winter in a mountain village",
    "a community bicycle repair shop",
    "a night at a science museum",
    "learning to swim as an adult",
    "a street musician's evening",
    "the smell of a bakery at dawn",
    "a lost umbrella's journey",
)
_IF_KEYWORDS = (
    "lantern",
    "harvest",
    "compass",
    "meadow",
    "whistle",
    "copper",
    "orchard",
    "pebble",
    "velvet",
    "echo",
)
_IF_FORBIDDEN = ("very", "really", "amazing", "beautiful", "nice", "things", "good", "great")
_IF_ENDINGS = ("That is all for today.", "Thank you for reading.", "See you next time.", "The end.")


def _if_structure(rng: random.Random) -> tuple[str, list]:
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.randint(2, 4)
        return (
            f"Split it into exactly {n} paragraphs, with a line containing only *** between neighbouring "
            "paragraphs.",
            ["length_constraints:number_paragraphs", {"num_paragraphs": n}],
        )
    if kind == 1:
        n = rng.randint(3, 5)
        return (
            f"Present it as exactly {n} bullet points; each bullet line begins with an asterisk and a space.",
            ["detectable_format:number_bullet_lists", {"num_bullets": n}],
        )
    if kind == 2:
        n = rng.randint(2, 4)
        return (
            f"Organise it in {n} parts and start each part with a heading line 'PART k', where k is 1, 2, "
            "and so on.",
            ["detectable_format:multiple_sections", {"section_spliter": "PART", "num_sections": n}],
        )
    n = rng.randint(2, 4)
    return (
        f"Emphasise at least {n} phrases by wrapping each of them in single asterisks, like *so*.",
        ["detectable_format:number_highlighted_sections", {"num_highlights": n}],
    )


def _if_content(rng: random.Random, kind: int) -> tuple[str, list]:
    if kind == 0:
        return ("Do not use any commas.", ["punctuation:no_comma", {}])
    if kind == 1:
        a, b = rng.sample(_IF_KEYWORDS, 2)
        return (
            f"Work the words '{a}' and '{b}' into the text.",
            ["keywords:existence", {"keywords": [a, b]}],
        )
    if kind == 2:
        w, k = pick(rng, _IF_KEYWORDS), rng.randint(2, 4)
        return (
            f"The word '{w}' has to appear {k} times or more.",
            ["keywords:frequency", {"keyword": w, "frequency": k, "relation": "at least"}],
        )
    if kind == 3:
        a, b = rng.sample(_IF_FORBIDDEN, 2)
        return (
            f"Avoid the words '{a}' and '{b}' entirely.",
            ["keywords:forbidden_words", {"forbidden_words": [a, b]}],
        )
    if kind == 4:
        phrase = pick(rng, _IF_ENDINGS)
        return (
            f"The very last words of your reply must be: {phrase}",
            ["startend:end_checker", {"end_phrase": phrase}],
        )
    if kind == 5:
        return (
            "Close with an afterthought line that begins with P.P.S",
            ["detectable_content:postscript", {"postscript_marker": "P.P.S"}],
        )
    if kind == 6:
        n = pick(rng, (80, 100, 120, 150))
        return (
            f"Stay below {n} words in total.",
            ["length_constraints:number_words", {"num_words": n, "relation": "less than"}],
        )
    if kind == 7:
        return (
            "Start with a title enclosed in double angle brackets, for example <<Morning Light>>.",
            ["detectable_format:title", {}],
        )
    n = rng.randint(1, 3)
    return (
        f"Leave at least {n} fill-in fields written in square brackets, such as [place].",
        ["detectable_content:number_placeholders", {"num_placeholders": n}],
    )


def steer_instructions(rng: random.Random) -> Draft:
    topic = pick(rng, _IF_TOPICS)
    head = pick(
        rng,
        (
            f"Write a short text about {topic}.",
            f"Compose a brief piece on {topic}.",
            f"Tell me about {topic} in a few lines.",
        ),
    )
    structure = _if_structure(rng)
    kinds = rng.sample(range(9), rng.randint(1, 2))
    if 4 in kinds and 5 in kinds:  # an end phrase after a postscript is legal but confusing: keep one
        kinds.remove(5)
    content = [_if_content(rng, k) for k in sorted(kinds)]
    sentences = [structure[0]] + [c[0] for c in content]
    instructions = [structure[1]] + [c[1] for c in content]
    return Draft(" ".join([head, *sentences]), "instructions", {"instructions": instructions}, 320)


_JSON_SUBJECTS = (
    (
        "an imaginary board game",
        {"title": "string", "min_players": "integer", "max_players": "integer", "themes": "array"},
    ),
    (
        "a fictional hiking trail",
        {"trail_name": "string", "length_km": "number", "difficulty": "string", "dogs_allowed": "boolean"},
    ),
    (
        "a made-up houseplant species",
        {
            "common_name": "string",
            "water_per_week": "integer",
            "needs_sunlight": "boolean",
            "colors": "array",
        },
    ),
    (
        "an invented café",
        {"cafe_name": "string", "opening_hour": "integer", "specialities": "array", "has_wifi": "boolean"},
    ),
    (
        "a fictional robot",
        {"model": "string", "height_cm": "number", "skills": "array", "battery_hours": "integer"},
    ),
    (
        "an imaginary music festival",
        {"festival": "string", "days": "integer", "genres": "array", "camping": "boolean"},
    ),
)
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list of strings",
}


def steer_json(rng: random.Random) -> Draft:
    subject, keys = pick(rng, _JSON_SUBJECTS)
    names = list(keys)
    rng.shuffle(names)
    fields = "; ".join(f"{k} ({_TYPE_WORDS[keys[k]]})" for k in names)
    tail = pick(
        rng, ("Return the JSON object and nothing else.", "Your whole reply must be that JSON object.")
    )
    prompt = f"Describe {subject} as a JSON object with precisely these keys: {fields}. {tail}"
    return Draft(prompt, "json", {"keys": {k: keys[k] for k in names}}, 160)
