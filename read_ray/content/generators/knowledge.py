"""General knowledge: fact quizzes, chronologies, comparisons and explanations."""

from __future__ import annotations

import random
from dataclasses import dataclass

from read_ray.content.generators.common import _capitalise, _join_and, _Procedural
from read_ray.content.generators.knowledge_tables import (
    BOOKS,
    CAPITALS,
    ELEMENTS,
    EVENTS,
    GK_AUDIENCES,
    GK_CONCEPTS,
    GK_DEPTHS,
    GK_FORMATS,
)

__all__ = ["FactQuizSource", "ChronologySource", "CompareSource", "ExplainSource"]

_PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _fact_question(rng: random.Random) -> tuple[str, str, int]:
    kind = rng.randrange(8)
    if kind == 0:
        country, capital, level = rng.choice(CAPITALS)
        return f"What is the capital of {country}?", capital, level
    if kind == 1:
        country, capital, level = rng.choice(CAPITALS)
        return f"{capital} is the capital of which country?", country.removeprefix("the "), level
    if kind == 2:
        name, symbol, _, level = rng.choice(ELEMENTS)
        return f"What is the chemical symbol of {name}?", symbol, level
    if kind == 3:
        name, symbol, _, level = rng.choice(ELEMENTS)
        return f"Which chemical element has the symbol {symbol}?", name, level
    if kind == 4:
        name, _, number, level = rng.choice(ELEMENTS)
        return f"What is the atomic number of {name}?", str(number), min(3, level + 1)
    if kind == 5:
        index = rng.randrange(len(_PLANETS))
        if rng.random() < 0.5:
            return (
                f"Which planet is the {_ORDINALS[index]} from the Sun?",
                _PLANETS[index],
                1 if index in (0, 2, 7) else 2,
            )
        return f"Counting from the Sun, what position does {_PLANETS[index]} have (1-8)?", str(index + 1), 2
    if kind == 6:
        work, author, level = rng.choice(BOOKS)
        return f'Who wrote "{work}"?', author, level
    event, year, level = rng.choice(EVENTS)
    return f"In which year did {event} take place?", str(year), level


@dataclass(frozen=True)
class FactQuizSource(_Procedural):
    """A quiz of 1..max_questions short factual questions with known answers (capitals, chemical
    elements, planets, authors, dates). Answer = numbered lines. Factors: questions, obscurity (mean 1..3)."""

    source_id: str = ""
    capability: str = "general_knowledge"
    max_questions: int = 6
    max_new_tokens: int | None = 256

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        n = rng.randint(1, self.max_questions)
        items: list[tuple[str, str, int]] = []
        while len(items) < n:
            item = _fact_question(rng)
            if all(item[0] != other[0] for other in items):
                items.append(item)
        if n == 1:
            text = f"{items[0][0]}\n\nAnswer in one short line, giving only the answer."
            answer = items[0][1]
        else:
            numbered = "\n".join(f"{i}. {q}" for i, (q, _, _) in enumerate(items, start=1))
            text = (
                f"Answer these general-knowledge questions:\n{numbered}\n\nReply with one numbered line per "
                "question, giving only the answer (e.g. '1. <answer>')."
            )
            answer = "\n".join(f"{i}. {a}" for i, (_, a, _) in enumerate(items, start=1))
        obscurity = sum(level for _, _, level in items) / n
        return text, {"questions": n, "obscurity": round(obscurity, 4)}, answer


@dataclass(frozen=True)
class ChronologySource(_Procedural):
    """Put 3..max_events historical events in chronological order; answer = the ordered letters.
    Factors: events, obscurity (mean 1..3), closeness (1 / (1 + smallest gap in decades))."""

    source_id: str = ""
    capability: str = "general_knowledge"
    max_events: int = 7
    max_new_tokens: int | None = 256

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        n = rng.randint(3, self.max_events)
        while True:  # events of one year could be ordered either way
            events = rng.sample(EVENTS, n)
            years = sorted(year for _, year, _ in events)
            if len(set(years)) == n:
                break
        letters = "ABCDEFGHIJ"
        listing = "\n".join(f"{letters[i]}. {_capitalise(event)}" for i, (event, _, _) in enumerate(events))
        order = sorted(range(n), key=lambda i: events[i][1])
        text = (
            f"Put these events in chronological order, earliest first:\n{listing}\n\nGive the year of each "
            "event, then end with a line of the form 'Order: A, B, C' listing the letters in order."
        )
        gap = min(years[i + 1] - years[i] for i in range(n - 1))
        factors = {
            "events": n,
            "obscurity": round(sum(level for _, _, level in events) / n, 4),
            "closeness": round(1.0 / (1.0 + gap / 10.0), 4),
        }
        return text, factors, ", ".join(letters[i] for i in order)


_GK_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "countries": (
        (
            "Japan",
            "Brazil",
            "Canada",
            "Egypt",
            "Norway",
            "India",
            "Mexico",
            "Kenya",
            "Australia",
            "Germany",
            "Argentina",
            "Indonesia",
            "Vietnam",
            "Morocco",
            "Chile",
            "Poland",
        ),
        (
            "geography",
            "climate",
            "economy",
            "political system",
            "official languages",
            "cuisine",
            "twentieth-century history",
            "main exports",
            "population distribution",
            "education system",
        ),
    ),
    "planets": (
        _PLANETS,
        (
            "size",
            "composition",
            "atmosphere",
            "known moons",
            "distance from the Sun",
            "surface temperature",
            "length of a day",
            "history of exploration",
        ),
    ),
    "animals": (
        (
            "the bottlenose dolphin",
            "the octopus",
            "the African elephant",
            "the honeybee",
            "the grey wolf",
            "the emperor penguin",
            "the Nile crocodile",
            "the fruit bat",
            "the Galápagos tortoise",
            "the bald eagle",
            "the leafcutter ant",
            "the whale shark",
        ),
        (
            "habitat",
            "diet",
            "lifespan",
            "social behaviour",
            "reproduction",
            "senses",
            "role in the ecosystem",
            "conservation status",
        ),
    ),
    "energy sources": (
        (
            "solar power",
            "wind power",
            "nuclear fission",
            "natural gas",
            "coal",
            "hydroelectric power",
            "geothermal energy",
            "biomass",
        ),
        (
            "cost per kilowatt-hour",
            "carbon emissions",
            "reliability",
            "land use",
            "safety record",
            "scalability",
            "effects on wildlife",
            "storage needs",
        ),
    ),
    "empires": (
        (
            "the Roman Empire",
            "the Han dynasty",
            "the Mongol Empire",
            "the Ottoman Empire",
            "the Inca Empire",
            "the Mughal Empire",
            "the Byzantine Empire",
            "the Aztec Empire",
            "the Mali Empire",
        ),
        (
            "territorial extent",
            "system of government",
            "economy",
            "religion",
            "military organisation",
            "technology",
            "causes of decline",
            "cultural legacy",
        ),
    ),
    "musical instruments": (
        (
            "the violin",
            "the piano",
            "the classical guitar",
            "the trumpet",
            "the flute",
            "the sitar",
            "the cello",
            "the kora",
            "the pipe organ",
        ),
        (
            "how the sound is produced",
            "pitch range",
            "history",
            "typical repertoire",
            "difficulty for beginners",
            "construction materials",
            "role in an ensemble",
        ),
    ),
    "cities": (
        (
            "Tokyo",
            "Paris",
            "Lagos",
            "New York City",
            "Mumbai",
            "São Paulo",
            "Cairo",
            "Sydney",
            "Istanbul",
            "Mexico City",
            "Seoul",
            "Buenos Aires",
        ),
        (
            "history",
            "public transport",
            "climate",
            "economy",
            "cultural life",
            "architecture",
            "population growth",
            "main challenges",
        ),
    ),
    "diseases": (
        ("influenza", "malaria", "tuberculosis", "measles", "type 2 diabetes", "cholera", "asthma"),
        ("cause", "how it spreads or develops", "main symptoms", "prevention", "treatment", "global burden"),
    ),
    "economic systems": (
        ("a market economy", "a planned economy", "a mixed economy", "a traditional economy"),
        (
            "who decides what is produced",
            "role of prices",
            "role of the state",
            "efficiency",
            "inequality",
            "historical examples",
            "innovation",
        ),
    ),
}


@dataclass(frozen=True)
class CompareSource(_Procedural):
    """Compare 2..4 entities of one category across 2..6 aspects in a table. Factors: entities, aspects."""

    source_id: str = ""
    capability: str = "general_knowledge"
    max_new_tokens: int | None = 512

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        category = rng.choice(sorted(_GK_CATEGORIES))
        entities, aspects = _GK_CATEGORIES[category]
        n_entities = rng.randint(2, min(4, len(entities)))
        n_aspects = rng.randint(2, min(6, len(aspects)))
        chosen = rng.sample(entities, n_entities)
        chosen_aspects = rng.sample(aspects, n_aspects)
        closing = rng.choice(
            (
                "Finish with one sentence naming the most important difference.",
                "Finish with two sentences on what they have in common.",
                "Finish with one sentence on which aspect is most often misunderstood, and why.",
            )
        )
        text = (
            f"Compare {_join_and(chosen)} ({category}) with respect to: {'; '.join(chosen_aspects)}.\n\n"
            "Reply with a Markdown table with one row per aspect, a first column 'Aspect' and one column "
            "per item, "
            f"each cell at most 20 words. {closing}"
        )
        return text, {"entities": n_entities, "aspects": n_aspects}, None


@dataclass(frozen=True)
class ExplainSource(_Procedural):
    """Explain a concept to an audience at depth 1..3 in 2..7 points. Factors: points, depth."""

    source_id: str = ""
    capability: str = "general_knowledge"
    max_new_tokens: int | None = 512

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        concept = rng.choice(GK_CONCEPTS)
        depth, depth_text = rng.choice(GK_DEPTHS)
        points = rng.randint(2, 7)
        limit = rng.choice([words for words in (100, 150, 200, 300, 400) if words >= 30 * points])
        audience = rng.choice(GK_AUDIENCES)
        text = (
            f"Explain {concept} to {audience}. Give {depth_text}, in {points} key points and at most {limit} "
            f"words.\n\nUse {rng.choice(GK_FORMATS)}, and end with one concrete real-world example."
        )
        return text, {"points": points, "depth": depth}, None
