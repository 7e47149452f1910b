"""Seeded, time-boxed, grammar-aware fuzzing of the C parser and event parser against the pure twin.

    python fuzz/random_fuzz.py [--seconds 10] [--seed 0] [--trace]

Inputs (fuzz/harness.py explains their shape) are built from the trigger grammar's own pieces,
near-miss tokens, boundary numbers (job ids around 2**31, times around 2**62, nesting around 256),
odd characters (NUL, non-ASCII, control characters, lone surrogates) and random mutations of all
that, plus a share of raw random text. The sequence depends only on the seed; the time box only decides where it stops,
so a crash at input N is replayed with the same seed (``--trace`` prints each input first).
Exit status 0: no difference, no crash; 1: a difference (the input is printed).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Counters, FuzzFailure, check_input  # noqa: E402

NAMES = ["complete", "failed", "killed", "done", "submit", "running", "blocked", "waiting", "pending",
         "suspended", "assigned", "dummy", "timeout", "my_event", "Complete", "DONE", "x1", "1x", "_x", "",
         "compl ete", "é"]
TYPES = ["job", "subjob", "work", "host", "time", "repeat", "global", "globaltime", "globalrepeat", "JOB", "Work",
         "Global", "frame", "", "jobs"]
CONTEXTS = ["self", "parent", "SELF", "Parent", "1", "2", "3", "4", "7", "0", "007", "2147483647",
            "2147483648", "99999999999999999999", "A", "B", "comp", "solo", "missing", "_x.y", "a.b",
            "", "-1", "1a", "é", "*",
            # past int()'s 4,300-digit limit: a small value zero-padded, and one out of range
            "0" * 4400 + "2", "9" * 4400]
EXTRAS = [None, "*", "1", "5", "-10", "Initialize", "0", "0-60", "100-0", "5-1", "4611686018427387904",
          "4611686018427387905", "99999999999999999999999", "1-1", "", "a-b-c", "é", "日本", "x\x00y",
          "**", "0x10", " 1", "1.5", "0" * 4400 + "5", "7" * 4400, "0" * 4400 + "5-" + "0" * 4400 + "3"]
OPS = [" && ", " || ", " and ", " OR ", "&&", "||", " & ", " | ", " ! ", " not ", " AND ", "&&&", "|||"]
ODD = ["\x00", "\t", "\r", "\x0b", "\x0c", "\xa0", "\u2028", "é", "日", "\U0001f600", "\x7f", "!", "(", ")",
       "-", "*", "&", "|", " ", "#", "\\", '"', "\ud800", "\udcff"]  # lone surrogates included


def rand_atom(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.06:
        t = r.choice(["globaltime", "globalrepeat", "GlobalTime"])
        return f"{r.choice(NAMES)}-{t}-{r.choice(EXTRAS) or ''}"
    if kind < 0.09:  # the two-field clock forms: globaltime-T, globalrepeat-T-I
        t = r.choice(["globaltime", "globalrepeat", "GLOBALTIME", "globaltime"])
        return f"{t}-{r.choice(['5', '100', '0-60', '5-1', '0100', '4611686018427387905', '1x', *EXTRAS[1:]])}"
    if kind < 0.12:  # name-global, and near misses
        return f"{r.choice(NAMES)}-{r.choice(['global', 'Global', 'global-', 'global-1', 'global-self-5'])}"
    name, type_, ctx = r.choice(NAMES[:6]) if r.random() < 0.6 else r.choice(NAMES), None, None
    type_ = r.choice(TYPES[:6]) if r.random() < 0.7 else r.choice(TYPES)
    ctx = r.choice(CONTEXTS[:8]) if r.random() < 0.6 else r.choice(CONTEXTS)
    extra = r.choice(EXTRAS[:6]) if r.random() < 0.6 else r.choice(EXTRAS)
    if type_.lower() == "job" and r.random() < 0.8:
        extra = None
    elif extra is None and r.random() < 0.8:
        extra = str(r.randrange(0, 20))
    if type_.lower() in ("time", "repeat") and r.random() < 0.7:
        start = r.choice([0, 1, 5, 10, 99, 2**62, 2**62 + 1, r.randrange(0, 1000)])
        extra = str(start) if type_.lower() == "time" else f"{start}-{r.choice([0, 1, 7, 60, 2**62])}"
    parts = [name, type_, ctx] + ([] if extra is None else [extra])
    return "-".join(parts)


def rand_expr(r: random.Random, depth: int = 0) -> str:
    roll = r.random()
    if depth > 4 or roll < 0.45:
        return rand_atom(r)
    if roll < 0.6:
        inner = rand_expr(r, depth + 1)
        return f"({inner})" if r.random() < 0.9 else r.choice([f"({inner}", f"{inner})", f"( {inner} )"])
    return rand_expr(r, depth + 1) + r.choice(OPS[:6] if r.random() < 0.85 else OPS) + rand_expr(r, depth + 1)


def nested(r: random.Random) -> str:
    k = r.choice([1, 2, 255, 256, 257, 300, r.randrange(1, 400)])
    atom = rand_atom(r)
    closes = k if r.random() < 0.8 else max(0, k + r.choice([-1, 1]))
    return "(" * k + atom + ")" * closes


def mutate(r: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(r.choice([1, 1, 2, 3, 5])):
        op = r.random()
        pos = r.randrange(0, len(chars) + 1)
        if op < 0.4:
            chars.insert(pos, r.choice(ODD) if r.random() < 0.7 else chr(r.randrange(0x20, 0x7F)))
        elif op < 0.7 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = r.choice(ODD)
    return "".join(chars)


def rand_event(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.06:
        return f"@{r.choice([0, 1, 5, 10, 60, 100, 2**62, 2**62 + 1, 2**63, -1, r.randrange(0, 200)])}"
    if roll < 0.09:
        return f"!rm {r.choice(['1', '2', '3', '4', '5', '0', '-1', '2147483648', 'x'])}"
    if roll < 0.12:
        return f"!add {r.choice(['2', '5', '6', '-1', '2147483648'])} {r.choice(['', 'A', 'B', 'C', 'comp', '9x'])}".rstrip()
    if roll < 0.14:
        return "!many"
    name = r.choice(NAMES[:6] + ["running", "waiting", "blocked"]) if r.random() < 0.8 else r.choice(NAMES)
    type_ = r.choice(TYPES[:3]) if r.random() < 0.8 else r.choice(TYPES)
    job = r.choice(["1", "2", "3", "4", "7"]) if r.random() < 0.8 else r.choice(CONTEXTS)
    if type_ in ("globaltime", "globalrepeat"):
        return f"{name}-{type_}-{r.choice(EXTRAS) or '5'}"
    if type_.lower() == "global":
        return f"{name}-{type_}" if r.random() < 0.8 else f"{name}-{type_}-{job}"
    if r.random() < 0.02:
        return f"{r.choice(['globaltime', 'globalrepeat'])}-{r.choice(['5', '0-60', '100', 'x', ''])}"
    extra = None if type_.lower() == "job" else (str(r.randrange(0, 20)) if r.random() < 0.7 else r.choice(EXTRAS))
    text = "-".join([name, type_, job] + ([] if extra is None else [extra]))
    return mutate(r, text) if r.random() < 0.1 else text


_CONTEXT_JOB = {"self": "1", "parent": "7", "comp": "1", "a": "2", "b": "3", "solo": "4"}


def events_for(r: random.Random, expression: str) -> list:
    """Events that the expression's own atoms would match (when it is valid), to make it fire."""
    words = re.split(r"[\s()&|]+", expression)
    out = []
    for word in words:
        parts = word.split("-", 3)
        if len(parts) == 2 and parts[1].lower() == "global":
            out.append(word)
            continue
        if parts[0].lower() in ("globaltime", "globalrepeat") and word[len(parts[0]) + 1 : len(parts[0]) + 2].isdigit():
            out.append(f"@{r.randrange(0, 120)}" if r.random() < 0.7 else word)
            continue
        if len(parts) < 3 or parts[1].lower() in ("globaltime", "globalrepeat"):
            continue
        name, type_, ctx = parts[:3]
        if name.lower() == "done":
            name = r.choice(["complete", "failed", "killed"])
        ctx = _CONTEXT_JOB.get(ctx.lower(), ctx)
        extra = parts[3] if len(parts) == 4 else None
        if extra == "*":
            extra = str(r.randrange(0, 20))
        if type_.lower() in ("time", "repeat"):
            out.append(f"@{r.randrange(0, 120)}")
        out.append("-".join([name, type_, ctx] + ([] if extra is None else [extra])))
    r.shuffle(out)
    return out


def rand_input(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.04:
        first = nested(r)
    elif roll < 0.08:
        first = "".join(chr(r.randrange(0, 0x3000)) for _ in range(r.randrange(0, 40))).replace("\n", " ")
    elif roll < 0.12:
        first = "\x1f".join(rand_expr(r) for _ in range(r.randrange(0, 4)))
    elif roll < 0.14:
        first = rand_atom(r) + " && " + " || ".join(rand_atom(r) for _ in range(r.randrange(50, 300)))
    else:
        first = rand_expr(r)
        if r.random() < 0.3:
            first = mutate(r, first)
    first = first.replace("\n", " ")
    events = [rand_event(r) for _ in range(r.randrange(0, 8))]
    if r.random() < 0.5:
        events = events[: r.randrange(0, 3)] + events_for(r, first) + events
        if r.random() < 0.3:  # fire again after re-arming
            events += events_for(r, first)
    return "\n".join([first, *events])


def load_twins(native_module: str = "qbtrigger._native"):
    import importlib

    from qbtrigger._pure import Network as Pure

    return importlib.import_module(native_module).Network, Pure


def run(seconds: float, seed: int, trace: bool = False, native_module: str = "qbtrigger._native") -> Counters:
    native, pure = load_twins(native_module)
    r = random.Random(seed)
    counters = Counters()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(50):
            text = rand_input(r)
            if trace:
                print(f"{counters.inputs}: {text!r}", flush=True)
            check_input(text, native, pure, counters)
    return counters


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace", action="store_true", help="print every input before running it")
    parser.add_argument("--native", default="qbtrigger._native", help=argparse.SUPPRESS)  # self-tests of the driver
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(errors="backslashreplace")  # inputs may hold lone surrogates
    print(f"random fuzz: seed {args.seed}, {args.seconds:g} s", flush=True)
    try:
        counters = run(args.seconds, args.seed, args.trace, args.native)
    except FuzzFailure as exc:
        print(f"FAILED (seed {args.seed}; replay: python fuzz/random_fuzz.py --seed {args.seed} --trace)", flush=True)
        print(exc, flush=True)
        return 1
    print(f"random fuzz: {counters}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
