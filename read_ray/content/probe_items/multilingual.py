"""Probe item builders: multilingual (word problems, capitals, word translations)."""

from __future__ import annotations

import random

from read_ray.content.probe_items.common import Draft, pick

_ML_PROBLEMS = {
    "es": (
        "En una biblioteca hay {a} estanterías con {b} libros cada una. Hoy se prestaron {c} libros. "
        "¿Cuántos libros quedan en las estanterías?",
        "Responde en español y termina con el número final en la última línea.",
    ),
    "fr": (
        "Un jardin compte {a} rangées de {b} tulipes. La jardinière en cueille {c} pour le marché. Combien "
        "de tulipes reste-t-il dans le jardin ?",
        "Répondez en français et terminez par le nombre final seul sur la dernière ligne.",
    ),
    "de": (
        "Ein Bus hat {a} Sitzreihen mit je {b} Plätzen. {c} Plätze sind schon besetzt. Wie viele Plätze sind "
        "noch frei?",
        "Antworte auf Deutsch und schreibe die Zahl allein in die letzte Zeile.",
    ),
    "it": (
        "Un frutteto ha {a} file di {b} alberi. Un temporale ne abbatte {c}. Quanti alberi restano in piedi?",
        "Rispondi in italiano e scrivi il numero finale da solo nell'ultima riga.",
    ),
    "pt": (
        "Um agricultor enche {a} caixas com {b} laranjas cada uma e depois vende {c} laranjas. Quantas "
        "laranjas ficam nas caixas?",
        "Responda em português e escreva o número final sozinho na última linha.",
    ),
}
# "of <country>" per language, then the accepted capital spellings (accents are ignored when checking)
_ML_COUNTRIES = (
    (
        {
            "es": "de Francia",
            "fr": "de la France",
            "de": "von Frankreich",
            "it": "della Francia",
            "pt": "da França",
        },
        ["Paris", "Parigi"],
    ),
    (
        {
            "es": "de Alemania",
            "fr": "de l'Allemagne",
            "de": "von Deutschland",
            "it": "della Germania",
            "pt": "da Alemanha",
        },
        ["Berlin", "Berlino", "Berlim", "Berlín"],
    ),
    (
        {"es": "de Japón", "fr": "du Japon", "de": "von Japan", "it": "del Giappone", "pt": "do Japão"},
        ["Tokio", "Tokyo", "Tóquio"],
    ),
    (
        {"es": "de Egipto", "fr": "de l'Égypte", "de": "von Ägypten", "it": "dell'Egitto", "pt": "do Egito"},
        ["Cairo", "Caire", "Kairo"],
    ),
    (
        {"es": "de Italia", "fr": "de l'Italie", "de": "von Italien", "it": "dell'Italia", "pt": "da Itália"},
        ["Roma", "Rome", "Rom"],
    ),
    (
        {
            "es": "de Noruega",
            "fr": "de la Norvège",
            "de": "von Norwegen",
            "it": "della Norvegia",
            "pt": "da Noruega",
        },
        ["Oslo"],
    ),
)
_ML_CAPITAL_Q = {
    "es": "¿Cuál es la capital {x}? Responde en español con una frase corta.",
    "fr": "Quelle est la capitale {x} ? Répondez en français en une phrase courte.",
    "de": "Wie heißt die Hauptstadt {x}? Antworte auf Deutsch in einem kurzen Satz.",
    "it": "Qual è la capitale {x}? Rispondi in italiano con una frase breve.",
    "pt": "Qual é a capital {x}? Responda em português numa frase curta.",
}
_ML_WORDS = (  # English word, then accepted translations per language
    (
        "water",
        {
            "Spanish": ["agua"],
            "French": ["eau"],
            "German": ["Wasser"],
            "Italian": ["acqua"],
            "Portuguese": ["água"],
        },
    ),
    (
        "bread",
        {
            "Spanish": ["pan"],
            "French": ["pain"],
            "German": ["Brot"],
            "Italian": ["pane"],
            "Portuguese": ["pão"],
        },
    ),
    (
        "house",
        {
            "Spanish": ["casa"],
            "French": ["maison"],
            "German": ["Haus"],
            "Italian": ["casa"],
            "Portuguese": ["casa"],
        },
    ),
    (
        "book",
        {
            "Spanish": ["libro"],
            "French": ["livre"],
            "German": ["Buch"],
            "Italian": ["libro"],
            "Portuguese": ["livro"],
        },
    ),
    (
        "dog",
        {
            "Spanish": ["perro"],
            "French": ["chien"],
            "German": ["Hund"],
            "Italian": ["cane"],
            "Portuguese": ["cão", "cachorro"],
        },
    ),
    (
        "moon",
        {
            "Spanish": ["luna"],
            "French": ["lune"],
            "German": ["Mond"],
            "Italian": ["luna"],
            "Portuguese": ["lua"],
        },
    ),
    (
        "friend",
        {
            "Spanish": ["amigo", "amiga"],
            "French": ["ami", "amie"],
            "German": ["Freund", "Freundin"],
            "Italian": ["amico", "amica"],
            "Portuguese": ["amigo", "amiga"],
        },
    ),
    (
        "green",
        {
            "Spanish": ["verde"],
            "French": ["vert", "verte"],
            "German": ["grün"],
            "Italian": ["verde"],
            "Portuguese": ["verde"],
        },
    ),
)


def ml_problem(rng: random.Random) -> Draft:
    lang = pick(rng, sorted(_ML_PROBLEMS))
    text, tail = _ML_PROBLEMS[lang]
    a, b = rng.randint(4, 25), rng.randint(6, 30)
    c = rng.randint(1, a * b - 1)
    return Draft(f"{text.format(a=a, b=b, c=c)} {tail}", "number", {"answer": str(a * b - c)}, 256)


def ml_capital(rng: random.Random) -> Draft:
    lang = pick(rng, sorted(_ML_CAPITAL_Q))
    names, capitals = pick(rng, _ML_COUNTRIES)
    return Draft(_ML_CAPITAL_Q[lang].format(x=names[lang]), "contains", {"needles": [capitals]}, 48)


def ml_translate(rng: random.Random) -> Draft:
    word, options = pick(rng, _ML_WORDS)
    lang = pick(rng, sorted(options))
    q = pick(
        rng,
        (
            f'How do you say the English word "{word}" in {lang}? Give the {lang} word.',
            f'Give the {lang} translation of the English word "{word}".',
        ),
    )
    return Draft(q, "contains", {"needles": [options[lang]]}, 32)
