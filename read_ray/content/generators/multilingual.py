"""Arithmetic word problems (math in English; multilingual in es/fr/de/it/pt) and translation prompts
(multilingual) whose instruction is written in the target language."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from read_ray.content.generators.common import _english_sentence, _Procedural

__all__ = ["WordProblemSource", "TranslationSource", "WORD_PROBLEM_LANGUAGES", "TRANSLATION_TARGETS"]

# --------------------------------------------------------------------------------------------------
# Word problems (English maths, and five non-English languages for multilingual)
# --------------------------------------------------------------------------------------------------

# Each language: names, items as (plural noun, grammatical gender), recipients (already with the
# preposition or case the verb needs), phrases per step kind, the question per gender, the format line.
_WP: dict[str, dict[str, Any]] = {
    "en": {
        "names": (
            "Alex",
            "Priya",
            "Tom",
            "Mei",
            "Omar",
            "Sara",
            "Lukas",
            "Nadia",
            "Ben",
            "Yuki",
            "Carlos",
            "Ava",
        ),
        "items": (
            ("apples", "n"),
            ("marbles", "n"),
            ("stickers", "n"),
            ("pencils", "n"),
            ("stamps", "n"),
            ("cookies", "n"),
            ("books", "n"),
            ("seashells", "n"),
            ("trading cards", "n"),
            ("eggs", "n"),
        ),
        "to": ("a neighbour", "a classmate", "a friend", "a cousin", "the school library"),
        "start": "{name} has {n} {item}.",
        "add": ("Then {name} buys {k} more {item}.", "Later, {name} receives {k} {item} as a gift."),
        "sub": ("Then {name} gives {k} {item} to {to}.", "After that, {name} loses {k} {item}."),
        "pack_add": ("Next, {name} buys {k} packs with {m} {item} in each.",),
        "pack_sub": ("Then {name} hands out {k} bags with {m} {item} in each.",),
        "question": {"n": "How many {item} does {name} have at the end?"},
        "format": "Reason step by step, then give the final answer on the last line as 'Answer: <number>'.",
    },
    "es": {
        "names": (
            "Lucía",
            "Mateo",
            "Sofía",
            "Diego",
            "Valentina",
            "Javier",
            "Carmen",
            "Andrés",
            "Elena",
            "Pablo",
        ),
        "items": (
            ("manzanas", "f"),
            ("canicas", "f"),
            ("galletas", "f"),
            ("pegatinas", "f"),
            ("lápices", "m"),
            ("libros", "m"),
            ("cromos", "m"),
            ("caramelos", "m"),
            ("huevos", "m"),
            ("sellos", "m"),
        ),
        "to": ("su hermano", "su vecina", "una amiga", "un compañero de clase", "su abuela"),
        "start": "{name} tiene {n} {item}.",
        "add": ("Después, {name} compra {k} {item} más.", "Luego, {name} recibe {k} {item} de regalo."),
        "sub": ("Luego, {name} regala {k} {item} a {to}.", "Más tarde, {name} pierde {k} {item}."),
        "pack_add": ("Después, {name} compra {k} paquetes de {m} {item} cada uno.",),
        "pack_sub": ("Luego, {name} reparte entre sus amigos {k} bolsas de {m} {item} cada una.",),
        "question": {
            "m": "¿Cuántos {item} tiene {name} al final?",
            "f": "¿Cuántas {item} tiene {name} al final?",
        },
        "format": "Razona paso a paso y escribe la respuesta final en la última línea con el formato "
        "«Respuesta: <número>».",
    },
    "fr": {
        "names": ("Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Arthur", "Inès", "Nathan"),
        "items": (
            ("billes", "f"),
            ("pommes", "f"),
            ("crayons", "m"),
            ("timbres", "m"),
            ("gâteaux", "m"),
            ("livres", "m"),
            ("cartes postales", "f"),
            ("bonbons", "m"),
            ("coquillages", "m"),
            ("figurines", "f"),
        ),
        "to": ("son frère", "sa voisine", "une amie", "un camarade de classe", "sa grand-mère"),
        "start": "{name} a {n} {item}.",
        "add": ("Ensuite, {name} achète {k} {item} de plus.", "Puis {name} reçoit {k} {item} en cadeau."),
        "sub": ("Ensuite, {name} donne {k} {item} à {to}.", "Plus tard, {name} perd {k} {item}."),
        "pack_add": ("Ensuite, {name} achète {k} paquets de {m} {item} chacun.",),
        "pack_sub": ("Puis {name} distribue à ses amis {k} sachets de {m} {item} chacun.",),
        "question": {
            "m": "Combien de {item} possède {name} à la fin ?",
            "f": "Combien de {item} possède {name} à la fin ?",
        },
        "format": "Raisonne étape par étape, puis écris la réponse finale sur la dernière ligne "
        "sous la forme « Réponse : <nombre> ».",
    },
    "de": {
        "names": ("Lena", "Paul", "Mia", "Felix", "Emma", "Jonas", "Hannah", "Lukas", "Clara", "Moritz"),
        "items": (
            ("Äpfel", "n"),
            ("Murmeln", "n"),
            ("Bleistifte", "n"),
            ("Briefmarken", "n"),
            ("Kekse", "n"),
            ("Aufkleber", "n"),
            ("Bücher", "n"),
            ("Eier", "n"),
            ("Muscheln", "n"),
            ("Sammelkarten", "n"),
        ),
        "to": ("einem Freund", "einer Nachbarin", "einem Mitschüler", "einer Freundin", "einem Kollegen"),
        "start": "{name} hat {n} {item}.",
        "add": ("Danach kauft {name} {k} weitere {item}.", "Dann bekommt {name} {k} {item} geschenkt."),
        "sub": ("Danach schenkt {name} {to} {k} {item}.", "Später verliert {name} {k} {item}."),
        "pack_add": ("Danach kauft {name} {k} Packungen mit je {m} {item}.",),
        "pack_sub": ("Dann verteilt {name} {k} Tüten mit je {m} {item} an Freunde.",),
        "question": {"n": "Wie viele {item} hat {name} am Ende?"},
        "format": "Rechne Schritt für Schritt und schreibe die Endantwort in die letzte Zeile im Format "
        "„Antwort: <Zahl>“.",
    },
    "it": {
        "names": (
            "Giulia",
            "Marco",
            "Chiara",
            "Luca",
            "Francesca",
            "Matteo",
            "Sara",
            "Davide",
            "Elisa",
            "Pietro",
        ),
        "items": (
            ("mele", "f"),
            ("biglie", "f"),
            ("matite", "f"),
            ("figurine", "f"),
            ("caramelle", "f"),
            ("libri", "m"),
            ("francobolli", "m"),
            ("biscotti", "m"),
            ("pastelli", "m"),
            ("quaderni", "m"),
        ),
        "to": ("suo fratello", "una vicina", "un'amica", "un compagno di classe", "sua nonna"),
        "start": "{name} ha {n} {item}.",
        "add": ("Poi {name} compra ancora {k} {item}.", "Poi {name} riceve in regalo {k} {item}."),
        "sub": ("Poi {name} regala {k} {item} a {to}.", "Più tardi {name} perde {k} {item}."),
        "pack_add": ("Poi {name} compra {k} confezioni da {m} {item} ciascuna.",),
        "pack_sub": ("Poi {name} distribuisce agli amici {k} sacchetti da {m} {item} ciascuno.",),
        "question": {"m": "Quanti {item} ha {name} alla fine?", "f": "Quante {item} ha {name} alla fine?"},
        "format": "Ragiona passo dopo passo e scrivi la risposta finale nell'ultima riga nel formato "
        "«Risposta: <numero>».",
    },
    "pt": {
        "names": (
            "Ana",
            "João",
            "Beatriz",
            "Pedro",
            "Mariana",
            "Tiago",
            "Inês",
            "Rafael",
            "Carolina",
            "Miguel",
        ),
        "items": (
            ("maçãs", "f"),
            ("bolinhas de gude", "f"),
            ("canetas", "f"),
            ("figurinhas", "f"),
            ("laranjas", "f"),
            ("livros", "m"),
            ("selos", "m"),
            ("biscoitos", "m"),
            ("lápis", "m"),
            ("ovos", "m"),
        ),
        "to": ("ao irmão", "à vizinha", "a uma amiga", "a um colega de turma", "à avó"),
        "start": "{name} tem {n} {item}.",
        "add": ("Depois, {name} compra mais {k} {item}.", "Em seguida, {name} ganha {k} {item} de presente."),
        "sub": ("Depois, {name} dá {k} {item} {to}.", "Mais tarde, {name} perde {k} {item}."),
        "pack_add": ("Depois, {name} compra {k} pacotes com {m} {item} cada um.",),
        "pack_sub": ("Em seguida, {name} distribui aos amigos {k} saquinhos com {m} {item} cada um.",),
        "question": {"m": "Quantos {item} {name} tem no final?", "f": "Quantas {item} {name} tem no final?"},
        "format": "Raciocine passo a passo e escreva a resposta final na última linha no formato "
        "«Resposta: <número>».",
    },
}

WORD_PROBLEM_LANGUAGES: tuple[str, ...] = tuple(_WP)
_MAGNITUDES = ((2, 12), (10, 60), (40, 400))  # operand range per magnitude level 1..3


@dataclass(frozen=True)
class WordProblemSource(_Procedural):
    """Multi-step arithmetic word problems in one language; factors: steps, magnitude (1..3)."""

    source_id: str = ""
    capability: str = "math"
    language: str = "en"
    min_steps: int = 1
    max_steps: int = 7
    max_new_tokens: int | None = 384

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.language not in _WP:
            raise ValueError(f"{self.source_id}: language {self.language!r} not in {WORD_PROBLEM_LANGUAGES}")
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(f"{self.source_id}: need 1 <= min_steps <= max_steps")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        pack = _WP[self.language]
        steps = rng.randint(self.min_steps, self.max_steps)
        magnitude = rng.randint(1, 3)
        low, high = _MAGNITUDES[magnitude - 1]
        name = rng.choice(pack["names"])
        item, gender = rng.choice(pack["items"])
        total = rng.randint(max(low, 2), high)
        sentences = [pack["start"].format(name=name, n=total, item=item)]
        for _ in range(steps):
            kinds = ["add", "pack_add"]
            if total >= 4:
                kinds.append("sub")
            if total >= 4 * 2:
                kinds.append("pack_sub")
            kind = rng.choice(kinds)
            phrase = rng.choice(pack[kind])
            if kind == "add":
                k = rng.randint(max(low, 2), high)
                total += k
                values = {"k": k}
            elif kind == "sub":
                k = rng.randint(2, max(2, total - 2))
                total -= k
                values = {"k": k}
            elif kind == "pack_add":
                k, m = rng.randint(2, 6), rng.randint(2, max(3, high // 4))
                total += k * m
                values = {"k": k, "m": m}
            else:
                m = rng.randint(2, max(2, min(12, total // 2)))
                k = rng.randint(2, max(2, total // m))
                total -= k * m
                values = {"k": k, "m": m}
            sentences.append(phrase.format(name=name, item=item, to=rng.choice(pack["to"]), **values))
        question = pack["question"].get(gender) or pack["question"][next(iter(pack["question"]))]
        sentences.append(question.format(name=name, item=item))
        text = " ".join(sentences) + "\n\n" + pack["format"]
        return text, {"steps": steps, "magnitude": magnitude}, str(total)


# --------------------------------------------------------------------------------------------------
# Translation (multilingual)
# --------------------------------------------------------------------------------------------------

_TR_LANG: dict[str, tuple[str, str]] = {
    "es": (
        "Traduce el siguiente texto del inglés al español. Conserva el significado, el tono y la puntuación.",
        "Responde solo con la traducción.",
    ),
    "fr": (
        "Traduis le texte suivant de l'anglais vers le français. Conserve le sens, le ton et la ponctuation.",
        "Réponds uniquement avec la traduction.",
    ),
    "de": (
        "Übersetze den folgenden Text aus dem Englischen ins Deutsche. Behalte Bedeutung, Ton und "
        "Zeichensetzung bei.",
        "Antworte nur mit der Übersetzung.",
    ),
    "it": (
        "Traduci il seguente testo dall'inglese all'italiano. Mantieni il significato, il tono e la "
        "punteggiatura.",
        "Rispondi solo con la traduzione.",
    ),
    "pt": (
        "Traduza o texto a seguir do inglês para o português. Mantenha o sentido, o tom e a pontuação.",
        "Responda apenas com a tradução.",
    ),
}
TRANSLATION_TARGETS: tuple[str, ...] = tuple(_TR_LANG)


@dataclass(frozen=True)
class TranslationSource(_Procedural):
    """Translate a generated English passage; the instruction is written in the target language.
    Factors: sentences, source words."""

    source_id: str = ""
    capability: str = "multilingual"
    target: str = "es"
    max_sentences: int = 8
    max_new_tokens: int | None = 384

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target not in _TR_LANG:
            raise ValueError(f"{self.source_id}: target {self.target!r} not in {TRANSLATION_TARGETS}")

    def _generate(self, rng: random.Random) -> tuple[str, dict[str, float], str | None]:
        n = rng.randint(1, self.max_sentences)
        passage = " ".join(_english_sentence(rng) for _ in range(n))
        instruction, fmt = _TR_LANG[self.target]
        text = f'{instruction}\n\n"{passage}"\n\n{fmt}'
        return text, {"sentences": n, "source_words": len(passage.split())}, None
