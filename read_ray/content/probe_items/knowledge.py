"""Probe item builders: general knowledge (capitals, elements, books, facts, numeric facts)."""

from __future__ import annotations

import random

from read_ray.content.probe_items.common import Draft, pick

_CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Norway", "Oslo"),
    ("Portugal", "Lisbon"),
    ("Greece", "Athens"),
    ("Argentina", "Buenos Aires"),
    ("Thailand", "Bangkok"),
    ("Poland", "Warsaw"),
    ("Ireland", "Dublin"),
    ("Mexico", "Mexico City"),
    ("Turkey", "Ankara"),
    ("Sweden", "Stockholm"),
)
_ELEMENTS = (
    ("Au", "gold"),
    ("Ag", "silver"),
    ("Fe", "iron"),
    ("Na", "sodium"),
    ("Pb", "lead"),
    ("Cu", "copper"),
    ("Sn", "tin"),
    ("Hg", "mercury"),
    ("K", "potassium"),
    ("W", "tungsten"),
    ("He", "helium"),
    ("Ca", "calcium"),
)
_BOOKS = (
    ("Pride and Prejudice", "Austen"),
    ("Romeo and Juliet", "Shakespeare"),
    ("War and Peace", "Tolstoy"),
    ("Don Quixote", "Cervantes"),
    ("On the Origin of Species", "Darwin"),
    ("Moby-Dick", "Melville"),
    ("The Odyssey", "Homer"),
    ("Frankenstein", "Shelley"),
    ("Les Misérables", "Hugo"),
    ("Crime and Punishment", "Dostoevsky"),
)
_FACT_QA = (
    ("Which planet is closest to the Sun?", ["Mercury"]),
    ("Which is the largest planet in our solar system?", ["Jupiter"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("What is the largest ocean on Earth?", ["Pacific"]),
    ("Which gas do plants take in from the air to carry out photosynthesis?", [["carbon dioxide", "CO2"]]),
    ("What is the hardest naturally occurring substance?", ["diamond"]),
    ("What is the currency of Japan?", ["yen"]),
    ("Which language is most widely spoken in Brazil?", ["Portuguese"]),
    ("Who painted the Mona Lisa?", [["Leonardo", "da Vinci"]]),
    ("Who was the first person to walk on the Moon?", ["Armstrong"]),
    ("Which organ pumps blood around the human body?", ["heart"]),
    ("What is the longest river in South America?", ["Amazon"]),
    ("What is the chemical formula of water?", ["H2O"]),
    ("Which instrument is used to measure air pressure?", ["barometer"]),
    ("What is the largest hot desert in the world?", ["Sahara"]),
    ("Which scientist proposed the theory of general relativity?", ["Einstein"]),
)
_NUMERIC_FACTS = (
    ("How many legs does a spider have?", 8),
    ("How many sides does a hexagon have?", 6),
    ("At sea level, at how many degrees Celsius does pure water boil?", 100),
    ("How many continents are there by the most common convention?", 7),
    ("In which year did the Second World War end?", 1945),
    ("How many bones are in the adult human body?", 206),
    ("How many planets orbit the Sun?", 8),
    ("How many minutes are there in a full day?", 1440),
    ("In which year did the Berlin Wall fall?", 1989),
    ("How many strings does a standard violin have?", 4),
)


def gk_fact(rng: random.Random) -> Draft:
    kind = rng.randrange(5)
    brief = pick(rng, ("Answer in one short sentence.", "Be brief.", "A few words are enough."))
    if kind == 0:
        country, city = pick(rng, _CAPITALS)
        q = pick(
            rng,
            (
                f"What is the capital city of {country}?",
                f"Which city is the capital of {country}?",
                f"Name the capital of {country}.",
            ),
        )
        return Draft(f"{q} {brief}", "contains", {"needles": [city]}, 48)
    if kind == 1:
        symbol, name = pick(rng, _ELEMENTS)
        q = pick(
            rng,
            (
                f"Which chemical element has the symbol {symbol}?",
                f"The chemical symbol {symbol} stands for which element?",
            ),
        )
        return Draft(f"{q} {brief}", "contains", {"needles": [name]}, 48)
    if kind == 2:
        title, author = pick(rng, _BOOKS)
        q = pick(rng, (f"Who wrote {title}?", f"Who is the author of {title}?"))
        return Draft(f"{q} {brief}", "contains", {"needles": [author]}, 48)
    if kind == 3:
        q, needles = pick(rng, _FACT_QA)
        return Draft(f"{q} {brief}", "contains", {"needles": needles}, 48)
    q, value = pick(rng, _NUMERIC_FACTS)
    tail = pick(rng, ("Reply with the number only.", "Give just the number."))
    return Draft(f"{q} {tail}", "number", {"answer": str(value)}, 32)
