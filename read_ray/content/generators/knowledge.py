"""General knowledge: fact quizzes, chronologies, comparisons and explanations."""

from __future__ import annotations

import random
from dataclasses import dataclass

from read_ray.content.generators.common import _capitalise, _join_and, _Procedural

__all__ = ["FactQuizSource", "ChronologySource", "CompareSource", "ExplainSource"]

# (country, capital, obscurity 1..3). Only capitals that are unambiguous and stable.
_CAPITALS = (
    ("France", "Paris", 1),
    ("Japan", "Tokyo", 1),
    ("Italy", "Rome", 1),
    ("Germany", "Berlin", 1),
    ("Spain", "Madrid", 1),
    ("Egypt", "Cairo", 1),
    ("Russia", "Moscow", 1),
    ("China", "Beijing", 1),
    ("the United Kingdom", "London", 1),
    ("Greece", "Athens", 1),
    ("Argentina", "Buenos Aires", 1),
    ("Thailand", "Bangkok", 1),
    ("Ireland", "Dublin", 1),
    ("Portugal", "Lisbon", 1),
    ("Mexico", "Mexico City", 1),
    ("Canada", "Ottawa", 2),
    ("Australia", "Canberra", 2),
    ("Brazil", "Brasília", 2),
    ("Turkey", "Ankara", 2),
    ("India", "New Delhi", 2),
    ("Kenya", "Nairobi", 2),
    ("Norway", "Oslo", 2),
    ("Sweden", "Stockholm", 2),
    ("Poland", "Warsaw", 2),
    ("Austria", "Vienna", 2),
    ("Peru", "Lima", 2),
    ("Chile", "Santiago", 2),
    ("Colombia", "Bogotá", 2),
    ("South Korea", "Seoul", 2),
    ("Vietnam", "Hanoi", 2),
    ("Hungary", "Budapest", 2),
    ("Finland", "Helsinki", 2),
    ("Morocco", "Rabat", 2),
    ("the Philippines", "Manila", 2),
    ("Cuba", "Havana", 2),
    ("Kazakhstan", "Astana", 3),
    ("Nigeria", "Abuja", 3),
    ("Pakistan", "Islamabad", 3),
    ("New Zealand", "Wellington", 3),
    ("Mongolia", "Ulaanbaatar", 3),
    ("Ghana", "Accra", 3),
    ("Ethiopia", "Addis Ababa", 3),
    ("Uruguay", "Montevideo", 3),
    ("Slovenia", "Ljubljana", 3),
    ("Iceland", "Reykjavík", 3),
    ("Nepal", "Kathmandu", 3),
    ("Laos", "Vientiane", 3),
    ("Kyrgyzstan", "Bishkek", 3),
    ("Paraguay", "Asunción", 3),
    ("Latvia", "Riga", 3),
    ("Estonia", "Tallinn", 3),
    ("Senegal", "Dakar", 3),
    ("Zambia", "Lusaka", 3),
    ("Bhutan", "Thimphu", 3),
    ("Oman", "Muscat", 3),
    ("Jordan", "Amman", 3),
)
# (element, symbol, atomic number, obscurity)
_ELEMENTS = (
    ("hydrogen", "H", 1, 1),
    ("helium", "He", 2, 1),
    ("lithium", "Li", 3, 2),
    ("carbon", "C", 6, 1),
    ("nitrogen", "N", 7, 1),
    ("oxygen", "O", 8, 1),
    ("fluorine", "F", 9, 2),
    ("neon", "Ne", 10, 2),
    ("sodium", "Na", 11, 2),
    ("magnesium", "Mg", 12, 2),
    ("aluminium", "Al", 13, 2),
    ("silicon", "Si", 14, 2),
    ("phosphorus", "P", 15, 2),
    ("sulfur", "S", 16, 2),
    ("chlorine", "Cl", 17, 2),
    ("argon", "Ar", 18, 2),
    ("potassium", "K", 19, 2),
    ("calcium", "Ca", 20, 2),
    ("titanium", "Ti", 22, 3),
    ("chromium", "Cr", 24, 3),
    ("manganese", "Mn", 25, 3),
    ("iron", "Fe", 26, 1),
    ("cobalt", "Co", 27, 3),
    ("nickel", "Ni", 28, 3),
    ("copper", "Cu", 29, 2),
    ("zinc", "Zn", 30, 2),
    ("arsenic", "As", 33, 3),
    ("bromine", "Br", 35, 3),
    ("krypton", "Kr", 36, 3),
    ("silver", "Ag", 47, 2),
    ("tin", "Sn", 50, 3),
    ("iodine", "I", 53, 3),
    ("xenon", "Xe", 54, 3),
    ("tungsten", "W", 74, 3),
    ("platinum", "Pt", 78, 3),
    ("gold", "Au", 79, 1),
    ("mercury", "Hg", 80, 2),
    ("lead", "Pb", 82, 2),
    ("radon", "Rn", 86, 3),
    ("uranium", "U", 92, 2),
    ("plutonium", "Pu", 94, 3),
)
_PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
# (work, author, obscurity)
_BOOKS = (
    ("Pride and Prejudice", "Jane Austen", 1),
    ("Nineteen Eighty-Four", "George Orwell", 1),
    ("War and Peace", "Leo Tolstoy", 1),
    ("Don Quixote", "Miguel de Cervantes", 1),
    ("Hamlet", "William Shakespeare", 1),
    ("To Kill a Mockingbird", "Harper Lee", 1),
    ("Moby-Dick", "Herman Melville", 2),
    ("Crime and Punishment", "Fyodor Dostoevsky", 2),
    ("One Hundred Years of Solitude", "Gabriel García Márquez", 2),
    ("The Great Gatsby", "F. Scott Fitzgerald", 2),
    ("Frankenstein", "Mary Shelley", 2),
    ("The Divine Comedy", "Dante Alighieri", 2),
    ("Les Misérables", "Victor Hugo", 2),
    ("The Trial", "Franz Kafka", 2),
    ("Jane Eyre", "Charlotte Brontë", 2),
    ("Wuthering Heights", "Emily Brontë", 2),
    ("Dracula", "Bram Stoker", 2),
    ("The Little Prince", "Antoine de Saint-Exupéry", 2),
    ("The Stranger", "Albert Camus", 2),
    ("Things Fall Apart", "Chinua Achebe", 3),
    ("Madame Bovary", "Gustave Flaubert", 3),
    ("The Tale of Genji", "Murasaki Shikibu", 3),
    ("Middlemarch", "George Eliot", 3),
    ("The Master and Margarita", "Mikhail Bulgakov", 3),
    ("Invisible Man", "Ralph Ellison", 3),
    ("Beloved", "Toni Morrison", 3),
)
# (event, year, obscurity)
_EVENTS = (
    ("the first crewed Moon landing", 1969, 1),
    ("the fall of the Berlin Wall", 1989, 1),
    ("the storming of the Bastille", 1789, 1),
    ("the sinking of the Titanic", 1912, 1),
    ("the end of the Second World War", 1945, 1),
    ("Columbus's first voyage to the Americas", 1492, 1),
    ("the adoption of the US Declaration of Independence", 1776, 1),
    ("the outbreak of the First World War", 1914, 1),
    ("the sealing of the Magna Carta", 1215, 2),
    ("the launch of Sputnik 1", 1957, 2),
    ("the dissolution of the Soviet Union", 1991, 2),
    ("the Battle of Hastings", 1066, 2),
    ("the fall of Constantinople to the Ottomans", 1453, 2),
    ("the Wright brothers' first powered flight", 1903, 2),
    ("the Chernobyl nuclear disaster", 1986, 2),
    ("the Russian October Revolution", 1917, 2),
    ("the Wall Street Crash", 1929, 2),
    ("the publication of Darwin's On the Origin of Species", 1859, 3),
    ("Nelson Mandela's inauguration as President of South Africa", 1994, 3),
    ("the Peace of Westphalia", 1648, 3),
    ("the start of the Meiji Restoration", 1868, 3),
    ("the proclamation of the German Empire", 1871, 3),
    ("the first ascent of Mount Everest", 1953, 3),
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _fact_question(rng: random.Random) -> tuple[str, str, int]:
    kind = rng.randrange(8)
    if kind == 0:
        country, capital, level = rng.choice(_CAPITALS)
        return f"What is the capital of {country}?", capital, level
    if kind == 1:
        country, capital, level = rng.choice(_CAPITALS)
        return f"{capital} is the capital of which country?", country.removeprefix("the "), level
    if kind == 2:
        name, symbol, _, level = rng.choice(_ELEMENTS)
        return f"What is the chemical symbol of {name}?", symbol, level
    if kind == 3:
        name, symbol, _, level = rng.choice(_ELEMENTS)
        return f"Which chemical element has the symbol {symbol}?", name, level
    if kind == 4:
        name, _, number, level = rng.choice(_ELEMENTS)
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
        work, author, level = rng.choice(_BOOKS)
        return f'Who wrote "{work}"?', author, level
    event, year, level = rng.choice(_EVENTS)
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
            events = rng.sample(_EVENTS, n)
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


_GK_CONCEPTS = (
    "how vaccines train the immune system",
    "plate tectonics",
    "inflation",
    "the greenhouse effect",
    "public-key cryptography",
    "natural selection",
    "the phases of the Moon",
    "photosynthesis",
    "supply and demand",
    "how GPS finds a position",
    "antibiotic resistance",
    "compound interest",
    "the water cycle",
    "how a bill becomes law",
    "the causes of the French Revolution",
    "the Silk Road",
    "the Industrial Revolution",
    "how the heart pumps blood",
    "black holes",
    "continental drift",
    "the printing press and its effects",
    "how a refrigerator works",
    "ocean tides",
    "the separation of powers",
    "comparative advantage in trade",
    "the placebo effect",
    "how rainbows form",
    "DNA replication",
    "the Cold War",
    "the Renaissance",
    "how batteries store energy",
    "the nitrogen cycle",
    "the Big Bang theory",
    "how earthquakes are measured",
    "the scientific method",
    "how elections use proportional representation",
    "the Green Revolution",
    "why the sky is blue",
    "how the internet routes data",
    "the Richter and moment magnitude scales",
    "the decline of the Roman Empire",
    "the role of central banks",
    "how airplanes generate lift",
    "the circular economy",
    "how the kidneys filter blood",
    "the Columbian exchange",
    "how memory works in the brain",
    "the theory of relativity in simple terms",
    "how coral reefs form",
    "the history of the alphabet",
)
_GK_AUDIENCES = (
    "a curious ten-year-old",
    "a high-school student",
    "a first-year university student",
    "a journalist on a deadline",
    "a policy maker",
    "a retired engineer",
    "a non-native English speaker",
)
_GK_DEPTHS = (
    (1, "a brief overview"),
    (2, "an explanation of the main mechanisms"),
    (3, "a rigorous explanation that defines every key term and mentions one common misconception"),
)
_GK_FORMATS = (
    "a numbered list with one point per item",
    "short paragraphs, one per point",
    "question-and-answer pairs, one per point",
)


@dataclass(frozen=True)
class ExplainSource(_Procedural):
    """Explain a concept to an audience at depth 1..3 in 2..7 points. Factors: points, depth."""

    source_id: str = ""
    capability: str = "general_knowledge"
    max_new_tokens: int | None = 512

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        concept = rng.choice(_GK_CONCEPTS)
        depth, depth_text = rng.choice(_GK_DEPTHS)
        points = rng.randint(2, 7)
        limit = rng.choice([words for words in (100, 150, 200, 300, 400) if words >= 30 * points])
        audience = rng.choice(_GK_AUDIENCES)
        text = (
            f"Explain {concept} to {audience}. Give {depth_text}, in {points} key points and at most {limit} "
            f"words.\n\nUse {rng.choice(_GK_FORMATS)}, and end with one concrete real-world example."
        )
        return text, {"points": points, "depth": depth}, None
