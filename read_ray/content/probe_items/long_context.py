"""Probe item builders: long context (our own filler text with planted facts)."""

from __future__ import annotations

import random

from read_ray.content.probe_items.common import Draft, pick

_LC_PEOPLE = (
    "Agnes Tolliver",
    "Bram Osterhout",
    "Celia Marchbank",
    "Dmitri Vance",
    "Edda Linqvist",
    "Fintan Roe",
    "Greta Halloran",
    "Hugo Penberthy",
    "Isolde Crane",
    "Jasper Quill",
    "Katrin Moss",
    "Lucan Ferris",
    "Maud Everly",
    "Niall Castell",
    "Orla Brennick",
    "Piet Varga",
)
_LC_ACTS = (
    "mended a torn fishing net",
    "counted crates of apples",
    "repainted the railings",
    "argued about the tide tables",
    "carried letters up the hill",
    "swept the chapel steps",
    "sorted the salt sacks",
    "tuned the harbour bell",
    "measured the depth of the channel",
    "baked rye loaves for the crew",
    "patched the roof of the boathouse",
    "wrote up the weekly accounts",
    "fed the customs-house cats",
    "oiled the winch on the slipway",
    "led visitors along the sea wall",
    "stacked driftwood for winter",
)
_LC_PLACES = (
    "the old customs house",
    "the north quay",
    "the rope works",
    "the signal tower",
    "the salt sheds",
    "the fish market",
    "the chapel of Saint Brendan",
    "the coal yard",
    "the ferry slip",
    "the net lofts",
)
_LC_TIMES = (
    "before breakfast",
    "on a windy afternoon",
    "late in the evening",
    "during the spring fair",
    "while the ferry was delayed",
    "after the second bell",
    "in a thin drizzle",
    "at low tide",
)
_LC_DESCR = (
    "The air around {p} smelled of tar and seaweed.",
    "Gulls gathered on the roof of {p} all morning.",
    "Someone had chalked a tide table on the door of {p}.",
    "A row of blue barrels stood outside {p}.",
    "The path to {p} was slippery after the rain.",
    "Lamps were lit early at {p} that week.",
    "Children raced paper boats in the puddles near {p}.",
    "A brass plaque beside {p} had turned green.",
)
_LC_LOCKS = (
    "archive safe",
    "boathouse padlock",
    "signal tower door",
    "school gate",
    "museum cabinet",
    "harbour office safe",
    "lighthouse hatch",
    "rope works strongbox",
)
_LC_STORES = ("north warehouse", "south warehouse", "east granary", "west depot", "island store")


def _lc_sentence(rng: random.Random) -> str:
    if rng.random() < 0.65:
        who, act, place = pick(rng, _LC_PEOPLE), pick(rng, _LC_ACTS), pick(rng, _LC_PLACES)
        return f"{who} {act} near {place} {pick(rng, _LC_TIMES)}."
    return pick(rng, _LC_DESCR).format(p=pick(rng, _LC_PLACES))


def _lc_document(rng: random.Random, words: int, planted: list[str]) -> str:
    """Filler sentences up to about ``words`` words with the planted sentences at random places."""
    sentences: list[str] = []
    count = sum(len(s.split()) for s in planted)
    while count < words:
        s = _lc_sentence(rng)
        sentences.append(s)
        count += len(s.split())
    for fact in planted:
        sentences.insert(rng.randint(0, len(sentences)), fact)
    paragraphs, i = [], 0
    while i < len(sentences):
        size = rng.randint(4, 8)
        paragraphs.append(" ".join(sentences[i : i + size]))
        i += size
    return "\n\n".join(paragraphs)


def _lc_intro(rng: random.Random) -> str:
    return pick(
        rng,
        (
            "Here is an extract from the harbour log of Saltmere, a fictional fishing town.",
            "The following notes were kept by the harbour master of the fictional town of Saltmere.",
        ),
    )


def lc_needle(rng: random.Random) -> Draft:
    words = pick(rng, (300, 600, 900, 1200, 1500))
    locks = rng.sample(_LC_LOCKS, rng.randint(2, 4))
    codes = rng.sample(range(1000, 10000), len(locks))
    planted = [f"The code for the {lock} is {code}." for lock, code in zip(locks, codes, strict=True)]
    target = rng.randrange(len(locks))
    doc = _lc_document(rng, words, planted)
    prompt = (
        f"{_lc_intro(rng)}\n\n{doc}\n\nQuestion: according to the log, what is the code for the "
        f"{locks[target]}? Reply with the four-digit code."
    )
    return Draft(prompt, "number", {"answer": str(codes[target])}, 64)


def lc_sum(rng: random.Random) -> Draft:
    words = pick(rng, (300, 600, 900, 1200, 1500))
    stores = rng.sample(_LC_STORES, 3)
    barrels = [rng.randint(12, 480) for _ in stores]
    planted = [
        f"At the last count the {s} held {n} barrels of salted herring."
        for s, n in zip(stores, barrels, strict=True)
    ]
    doc = _lc_document(rng, words, planted)
    prompt = (
        f"{_lc_intro(rng)}\n\n{doc}\n\nQuestion: how many barrels of salted herring did the {stores[0]} and "
        f"the {stores[1]} hold together at the last count? Give the total as a number on the last line."
    )
    return Draft(prompt, "number", {"answer": str(barrels[0] + barrels[1])}, 128)


_LC_SURNAMES = (
    "Abernathy",
    "Blackwood",
    "Carrow",
    "Delacourt",
    "Everdeen",
    "Fairbairn",
    "Galloway",
    "Holloway",
    "Ingleby",
    "Jessop",
    "Kettering",
    "Lockhart",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quayle",
    "Rutherford",
    "Stanhope",
    "Thistlewood",
)


def lc_lookup(rng: random.Random) -> Draft:
    n = pick(rng, (40, 80, 120, 160))
    ids = rng.sample(range(100, 1000), n)
    firsts = sorted({p.split()[0] for p in _LC_PEOPLE})
    pairs = rng.sample([(f, s) for f in firsts for s in _LC_SURNAMES], n)  # distinct full names
    people = [f"{f} {s}" for f, s in pairs]
    target = rng.randrange(n)
    lines = "\n".join(f"Mooring B-{i}: {p}" for i, p in zip(ids, people, strict=True))
    prompt = (
        f"Below is the mooring register of a small marina.\n\n{lines}\n\nWho holds mooring B-{ids[target]}? "
        "Answer with the full name."
    )
    return Draft(prompt, "contains", {"needles": [people[target]]}, 48)
