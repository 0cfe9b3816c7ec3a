"""Probe item builders: math (arithmetic, equations, percentages, word problems, divisors)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

from read_ray.content.probe_items.common import Draft, num, pick
from read_ray.content.probe_items.reasoning import NAMES

_RESULT_LINE = (
    "Write the final result alone on the last line.",
    "Finish with the final value on a line of its own.",
)


def math_arith(rng: random.Random) -> Draft:
    a, b, c, d = rng.randint(12, 99), rng.randint(3, 19), rng.randint(2, 12), rng.randint(10, 300)
    forms = (
        (f"({a} + {b}) × {c} − {d}", (a + b) * c - d),
        (f"{a} × {b} + {c} × {d}", a * b + c * d),
        (f"{a * c} ÷ {c} + {b} × {b}", a + b * b),
        (f"{d} − {a} + {b} × ({c} + {a})", d - a + b * (c + a)),
        (f"({d} + {a}) − {b} × {c}", d + a - b * c),
    )
    expr, value = pick(rng, forms)
    prompt = f"Calculate {expr}, showing the intermediate results. {pick(rng, _RESULT_LINE)}"
    return Draft(prompt, "number", {"answer": str(value)}, 192)


def math_equation(rng: random.Random) -> Draft:
    x, a, b = rng.randint(-20, 30), rng.randint(2, 12), rng.randint(-60, 60)
    c = a * x + b
    lhs = f"{a}x + {b}" if b >= 0 else f"{a}x − {-b}"
    prompt = f"Solve {lhs} = {c} for x. Show each step and end with the line 'x = <value>'."
    return Draft(prompt, "number", {"answer": str(x)}, 192)


def math_percent(rng: random.Random) -> Draft:
    p = pick(rng, (5, 10, 12, 15, 20, 25, 30, 35, 40, 45, 60, 75, 80))
    n = rng.randint(2, 60) * 20
    value = Fraction(p * n, 100)
    item = pick(rng, ("coat", "sofa", "camera", "pair of skis", "guitar", "set of pans"))
    q = pick(
        rng,
        (
            f"A {item} priced at {n} euros is reduced by {p}%. By how many euros is the price reduced?",
            f"What is {p} percent of {n}?",
            f"A {item} costs {n} euros and the price goes up by {p}%. How many euros is the increase?",
        ),
    )
    return Draft(f"{q} {pick(rng, _RESULT_LINE)}", "number", {"answer": num(value)}, 160)


def math_word(rng: random.Random) -> Draft:
    kind = rng.randrange(6)
    if kind == 0:
        r, leak, t = rng.randint(5, 15), rng.randint(1, 4), rng.randint(6, 40)
        cap = (r - leak) * t
        q = (
            f"An empty rain barrel holds {cap} litres. A hose pours in {r} litres per minute while a crack "
            f"lets {leak} litres per minute escape. After how many minutes is the barrel full?"
        )
        answer = t
    elif kind == 1:
        rows, per = rng.randint(8, 30), rng.randint(10, 24)
        sold = rng.randint(rows * per // 3, rows * per - 20)
        guests = rng.randint(1, rows * per - sold - 1)
        q = (
            f"A small theatre has {rows} rows of {per} seats. For one matinee {sold} tickets were sold and "
            f"{guests} further seats went to invited guests. How many seats stayed empty?"
        )
        answer = rows * per - sold - guests
    elif kind == 2:
        name = pick(rng, NAMES)
        d1, less = rng.randint(8, 40), rng.randint(2, 7)
        q = (
            f"{name} cycles {d1} km on Monday, twice as far on Tuesday, and on Wednesday {less} km less than "
            "on Tuesday. How many kilometres does that make over the three days?"
        )
        answer = d1 + 2 * d1 + (2 * d1 - less)
    elif kind == 3:
        name = pick(rng, NAMES)
        s, have = rng.randint(6, 25), rng.randint(10, 80)
        price = have + rng.randint(40, 400)
        q = (
            f"{name} has {have} euros and puts aside {s} euros every week. After how many whole weeks can "
            f"{name} first afford a telescope that costs {price} euros?"
        )
        answer = -(-(price - have) // s)
    elif kind == 4:
        base, flour, mult = rng.randint(4, 12), rng.randint(120, 400), rng.randint(2, 6)
        q = (
            f"A pancake recipe makes {base} pancakes from {flour} grams of flour. How many grams of flour "
            f"are needed for {base * mult} pancakes?"
        )
        answer = flour * mult
    else:
        gap, end = pick(rng, (10, 12, 15, 20, 25, 30, 40)), rng.randint(8, 14)
        q = (
            f"A shuttle leaves the airport every {gap} minutes, the first one at 6:00. How many shuttles "
            f"leave from 6:00 up to but not including {end}:00?"
        )
        answer = -(-((end - 6) * 60) // gap)
    return Draft(f"{q} {pick(rng, _RESULT_LINE)}", "number", {"answer": str(answer)}, 256)


def math_divisors(rng: random.Random) -> Draft:
    g = rng.randint(2, 15)
    m, n = rng.sample(range(2, 20), 2)
    a, b = g * m, g * n
    if rng.random() < 0.5:
        q = f"What is the greatest common divisor of {a} and {b}?"
        answer = math.gcd(a, b)
    else:
        q = f"What is the least common multiple of {a} and {b}?"
        answer = a * b // math.gcd(a, b)
    return Draft(f"{q} {pick(rng, _RESULT_LINE)}", "number", {"answer": str(answer)}, 192)
