"""Procedural arithmetic word problems with known answers (seeded, unlimited, three difficulty levels).

Level 1 is mental arithmetic; level 2 chains several operations over larger numbers; level 3 needs exact
big-integer or iterative computation where the python tool genuinely helps (sums of powers modulo a prime,
compound growth over many periods, counting with a condition).
"""

from __future__ import annotations

import numpy as np

from claw_envs.toolcall.task import ToolTask

_NAMES = ["Ava", "Ben", "Chloé", "Dmitri", "Esi", "Farah", "Goro", "Hana", "Ivan", "Jun", "Kofi", "Lena"]
_ITEMS = ["apples", "pencils", "stickers", "marbles", "books", "tickets", "cookies", "stamps"]


def generate(rng: np.random.Generator, difficulty: int = 2) -> ToolTask:
    """One problem; ``difficulty`` in 1..3."""
    if difficulty not in (1, 2, 3):
        raise ValueError(f"difficulty must be 1, 2 or 3, got {difficulty!r}")
    name = str(rng.choice(_NAMES))
    item = str(rng.choice(_ITEMS))
    kind = int(rng.integers(3))
    if difficulty == 1:
        a, b, c = (int(x) for x in rng.integers(2, 30, size=3))
        if kind == 0:
            q, ans = f"{name} has {a} {item}, buys {b} more and gives away {c}. How many {item} are left?", a + b - c
        elif kind == 1:
            q, ans = f"{name} packs {a} boxes with {b} {item} each. How many {item} in total?", a * b
        else:
            q, ans = f"{name} shares {a * b} {item} equally among {a} friends. How many does each get?", b
    elif difficulty == 2:
        a, b = (int(x) for x in rng.integers(100, 2000, size=2))
        c, d = (int(x) for x in rng.integers(3, 40, size=2))
        if kind == 0:
            q = (f"A shop sells {item} at {c} dollars each. {name} buys {a} on Monday and {b} on Tuesday, then "
                 f"returns {d}. How many dollars did {name} spend in the end?")
            ans = c * (a + b - d)
        elif kind == 1:
            q = (f"{name} reads {d} pages a day for {a} days, then {c} pages a day for {b} days. How many pages "
                 "in total?")
            ans = d * a + c * b
        else:
            q = (f"A factory makes {a} {item} per hour for {c} hours, and {d}% of them are faulty (rounded down). "
                 "How many good ones are made?")
            total = a * c
            ans = total - (total * d) // 100
    else:
        n = int(rng.integers(200, 3000))
        p = int(rng.choice([97, 101, 997, 1009, 7919]))
        k = int(rng.integers(2, 6))
        if kind == 0:
            q = f"What is the remainder when 1^{k} + 2^{k} + ... + {n}^{k} is divided by {p}?"
            ans = sum(i ** k for i in range(1, n + 1)) % p
        elif kind == 1:
            rate = int(rng.integers(2, 9))
            years = int(rng.integers(15, 40))
            q = (f"{name} invests {n * 10} dollars at {rate}% interest compounded yearly. After {years} years, "
                 "what is the balance in whole dollars (rounded down)?")
            bal = n * 10
            for _ in range(years):
                bal = bal * (100 + rate) / 100
            ans = int(bal)
        else:
            q = f"How many integers from 1 to {n * 10} are divisible by {k + 1} or by {p % 10 + 2} but not by both?"
            x, y = k + 1, p % 10 + 2
            ans = sum(1 for i in range(1, n * 10 + 1) if (i % x == 0) != (i % y == 0))
    seed = int(rng.integers(1 << 31))
    return ToolTask(id=f"gen-d{difficulty}-{seed}", question=q, answer=str(ans), verifier="math",
                    tools=("python",), tags=("generated", f"d{difficulty}"))
