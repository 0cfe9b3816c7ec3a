"""Probe item builders: reasoning (orderings, ages, sequences, boolean logic, robot walks)."""

from __future__ import annotations

import random

from read_ray.content.probe_items.common import Draft, pick

NAMES = (
    "Amara",
    "Bruno",
    "Chen",
    "Dalia",
    "Emil",
    "Farah",
    "Goran",
    "Hana",
    "Ivo",
    "Jonas",
    "Keiko",
    "Lior",
    "Mirela",
    "Nadia",
    "Otto",
    "Pia",
    "Quentin",
    "Rosa",
    "Sami",
    "Tova",
)


def reason_race(rng: random.Random) -> Draft:
    n = rng.randint(4, 6)
    order = rng.sample(NAMES, n)
    clues = []
    for a, b in zip(order, order[1:], strict=False):
        clues.append(
            pick(rng, (f"{a} finished directly ahead of {b}.", f"{b} crossed the line right after {a}."))
        )
    rng.shuffle(clues)
    target = rng.randrange(n)
    event = pick(rng, ("a village fun run", "a rowing race", "a snail-racing contest", "a sack race"))
    prompt = (
        f"{n} people took part in {event}: {', '.join(sorted(order))}. There were no ties. "
        + " ".join(clues)
        + f" In which place did {order[target]} finish, counting the winner as place 1? "
        "Explain briefly and put the place number alone on the last line."
    )
    return Draft(prompt, "number", {"answer": str(target + 1)}, 192)


def reason_ages(rng: random.Random) -> Draft:
    a_name, b_name, c_name = rng.sample(NAMES, 3)
    c_age, k, d = rng.randint(3, 12), rng.randint(2, 4), rng.randint(2, 15)
    b_age = k * c_age
    if rng.random() < 0.5:
        answer, relation = b_age + d, f"{a_name} is {d} years older than {b_name}."
    else:
        answer, relation = b_age - d, f"{a_name} is {d} years younger than {b_name}."
        if answer <= 0:
            answer, relation = b_age + d, f"{a_name} is {d} years older than {b_name}."
    times = {2: "twice", 3: "three times", 4: "four times"}[k]
    prompt = (
        f"{relation} {b_name} is {times} as old as {c_name}, and {c_name} is {c_age}. "
        f"How old is {a_name}? Reason step by step and end with the age as a number on its own line."
    )
    return Draft(prompt, "number", {"answer": str(answer)}, 160)


def reason_sequence(rng: random.Random) -> Draft:
    kind = rng.randrange(5)
    if kind == 0:
        a, d = rng.randint(-10, 30), rng.randint(2, 13)
        terms = [a + i * d for i in range(6)]
    elif kind == 1:
        a, r = rng.randint(1, 5), rng.randint(2, 3)
        terms = [a * r**i for i in range(6)]
    elif kind == 2:
        c = rng.randint(-3, 5)
        s = rng.randint(1, 4)
        terms = [(s + i) ** 2 + c for i in range(6)]
    elif kind == 3:
        a, b = rng.randint(1, 5), rng.randint(1, 6)
        terms = [a, b]
        while len(terms) < 6:
            terms.append(terms[-1] + terms[-2])
    else:
        a, p, q = rng.randint(1, 20), rng.randint(2, 9), rng.randint(-5, 12)
        terms = [a]
        while len(terms) < 6:
            terms.append(terms[-1] + (p if len(terms) % 2 else q))
    shown, answer = terms[:5], terms[5]
    prompt = (
        f"Find the rule behind the numbers {', '.join(map(str, shown))} and give the number that comes "
        "next. State the rule in one sentence, then write the next number by itself on the final line."
    )
    return Draft(prompt, "number", {"answer": str(answer)}, 128)


_BOOL_FORMS = (
    "(P and not Q) or R",
    "not (P or Q) and R",
    "(P or R) and (Q or not R)",
    "P and (Q or R)",
    "not P or (Q and R)",
    "(P and Q) or (not R and not P)",
    "not (P and Q) and (Q or R)",
)


def reason_boolean(rng: random.Random) -> Draft:
    values = {v: rng.random() < 0.5 for v in "PQR"}
    form = pick(rng, _BOOL_FORMS)
    truth = bool(eval(form, {"__builtins__": {}}, dict(values)))  # our own fixed expressions only
    words = {True: "true", False: "false"}
    prompt = (
        f"Let P be {words[values['P']]}, Q be {words[values['Q']]} and R be {words[values['R']]}. "
        f'Is the statement "{form}" true or false? Work it out, then on the final line write 1 if it '
        "is true or 0 if it is false."
    )
    return Draft(prompt, "number", {"answer": "1" if truth else "0"}, 160)


def reason_robot(rng: random.Random) -> Draft:
    x = y = 0
    heading = 0  # 0 north, 1 east, 2 south, 3 west
    moves = []
    for step in range(rng.randint(3, 6)):
        if step:
            turn = pick(rng, ("left", "right"))
            heading = (heading + (1 if turn == "right" else 3)) % 4
            moves.append(f"turns {turn}")
        n = rng.randint(1, 9)
        dx, dy = ((0, 1), (1, 0), (0, -1), (-1, 0))[heading]
        x, y = x + dx * n, y + dy * n
        moves.append(f"walks {n} {'metre' if n == 1 else 'metres'} forward")
    prompt = (
        "A delivery robot starts in an open square, facing north. It then "
        + ", ".join(moves)
        + ". How many metres is it now from its starting point if it may only travel along north-south "
        "and east-west lines (that is, the sum of the two distances)? Show the coordinates and give "
        "the distance alone on the last line."
    )
    return Draft(prompt, "number", {"answer": str(abs(x) + abs(y))}, 256)
