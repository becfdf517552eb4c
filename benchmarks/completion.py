"""Completion latency on the QEMU 7.2 schema (P3 of ``benchmarks.run``).

Times ``qmpsh.interactive.completer.complete()`` -- the context, the candidates and their
ranking, everything a keystroke costs short of drawing the menu -- over 500
partial inputs generated from the schema itself, so they follow whatever the
schema offers: command-name prefixes (and a few fuzzy abbreviations), argument
positions after a command (some after a first argument), union members once
the tag is typed, dotted members of nested objects (``blockdev-add
driver=qcow2 file.dr``), enum and bool values, and raw JSON. Live look-ups
(node names, QOM paths ...) are excluded: they are the server's time, not ours.

Each input is timed several times, interleaved with the others so one burst of
load on a shared machine cannot spoil one input's every sample; its median is
its latency. Reported: the median and p99 (nearest rank) of those 500
latencies against the goals (median < 1 ms, p99 < 5 ms), printed as PASS or
MISS -- this is a measurement, never a test failure -- and the one-off cost of
building the ``SchemaIndex`` from the reply.

    .venv/bin/python -m benchmarks.completion [--reps N] [--show-inputs] [--profile]
                                              [--schema RECORDING] [--inputs N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO, TypeVar

from qmpsh.interactive.completer import complete
from qmpsh.language.candidates import scalar_values
from qmpsh.language.schema import SchemaIndex
from tests.support.corpus import recording

SCHEMA = "qemu-7.2.22-x86_64.json.gz"
INPUTS = 500
#: How many inputs of each kind (scaled if --inputs differs); they add up to INPUTS.
QUOTAS = {
    "command": 90,
    "json-command": 20,
    "json-argument": 20,
    "argument": 100,
    "variant": 80,
    "nested": 110,
    "value": 80,
}
T = TypeVar("T")
GOAL_MEDIAN_MS = 1.0
GOAL_P99_MS = 5.0
#: The issue's own examples, always among the inputs (when the schema has the command).
EXAMPLES = (
    ("json-command", '{"execute": "que'),
    ("variant", "blockdev-add driver=qcow2 "),
    ("variant", "object-add qom-type=memory-backend-ram "),
    ("nested", "blockdev-add driver=qcow2 file."),
    ("nested", "blockdev-add driver=qcow2 file.dr"),
    ("nested", "blockdev-add driver=qcow2 file.driver=file file."),
    ("value", "blockdev-add driver=qc"),
    ("value", "blockdev-add driver=qcow2 file.driver=file file.aio="),
)
PINNED = "*"
#: Dotted depth explored below a command's arguments (``file.file.`` at most).
MAX_PATH = 2
#: How much of a word is typed, in turn: nothing, 1-3 letters, half, all but the last.
_CUTS = ("0", "1", "2", "3", "half", "most")


@dataclass(frozen=True)
class Knows:
    """What a session knows once connected: the schema and query-commands' names."""

    index: SchemaIndex | None
    commands: tuple[str, ...] = ()
    hmp_mode: bool = False


@dataclass(frozen=True)
class Level:
    """One object being filled in: ``path`` below the command, the tokens typed before it."""

    command: str
    type_name: str
    given: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def before(self) -> str:
        """The line up to where the next key is typed: ``blockdev-add driver=qcow2 file.``."""
        words = [self.command, *self.given]
        dotted = "".join(part + "." for part in self.path)
        return " ".join(words) + " " + dotted


# -- generating the inputs ------------------------------------------------------------


def partial(word: str, turn: int) -> str:
    """A prefix of ``word``, its length varying with ``turn``."""
    cut = _CUTS[turn % len(_CUTS)]
    if cut == "half":
        length = len(word) // 2
    elif cut == "most":
        length = len(word) - 1
    else:
        length = int(cut)
    return word[: max(0, min(length, len(word) - 1))]


def initials(name: str) -> str:
    """A fuzzy abbreviation: ``query-named-block-nodes`` -> ``qnbn``."""
    parts = [p for p in name.replace("_", "-").split("-") if p]
    return "".join(p[0] for p in parts) if len(parts) > 1 else name[0] + name[-1]


def placeholder(index: SchemaIndex, type_name: str) -> str | None:
    """A plausible value for an argument typed before the cursor (None: not a scalar)."""
    values = scalar_values(index, type_name)
    if values:
        return values[0]
    if index.meta(type_name) == "builtin":
        return "1" if "int" in type_name or type_name in ("size", "number") else "x1"
    return None


def levels(index: SchemaIndex, level: Level) -> Iterator[Level]:
    """``level``, then each union case of it, then the nested objects of each, depth-first.

    Below the arguments, unions are explored for two cases only (``file`` first),
    or ``blockdev-add`` alone would give thousands of ``a.b.`` positions.
    """
    yield level
    tag = index.tag(level.type_name)
    if tag is not None and tag not in level.tags:
        cases = sorted(index.variants(level.type_name))
        if level.path:
            cases = sorted(cases, key=lambda case: case != "file")[:2]
        for case in cases:
            token = ".".join((*level.path, tag)) + "=" + case
            chosen = replace(level, given=(*level.given, token), tags={tag: case})
            yield from levels(index, chosen)
    if len(level.path) >= MAX_PATH or (tag is not None and tag not in level.tags):
        return  # nested objects are explored below each case, not twice
    for member in index.members(level.type_name, level.tags):
        nested = index.object_type(member.type)
        if nested is not None and member.name not in level.path:
            yield from levels(
                index, Level(level.command, nested, level.given, (*level.path, member.name))
            )


def generate(
    index: SchemaIndex, commands: Sequence[str], total: int = INPUTS
) -> list[tuple[str, str]]:
    """``total`` (kind, partial input) pairs, the same ones on every run for one schema."""
    pools = Pools()
    for kind, text in EXAMPLES:
        if text.split()[0] in index.commands or text.startswith("{"):
            pools.add(kind, PINNED, text)
    names = sorted(set(commands) | set(index.commands))
    pools.add("command", "", "", "/", "/h")
    for turn, name in enumerate(names):
        word = initials(name) if turn % 6 == 5 else partial(name, turn) or name[0]
        pools.add("command", "", word)
        pools.add("json-command", "", '{"execute": "' + partial(name, turn + 3))
    turn = 0
    for name in sorted(index.commands):
        top = Level(name, index.commands[name].arg_type)
        for level in levels(index, top):
            members = [
                m for m in index.members(level.type_name, level.tags) if m.name not in level.tags
            ]
            if not members:
                continue
            kind = "nested" if level.path else "variant" if level.tags else "argument"
            before = level.before()
            turn += 1
            member = members[turn % len(members)]
            pools.add(kind, name, before, before + partial(member.name, turn))
            if level is top:
                _first_argument(index, level, turn, pools)
            for member in members:
                values = scalar_values(index, member.type)
                if values:
                    turn += 1
                    value = partial(values[turn % len(values)], turn)
                    pools.add("value", name, before + member.name + "=" + value)
    return pools.choose(total)


def _first_argument(index: SchemaIndex, top: Level, turn: int, pools: Pools) -> None:
    """After the first required scalar argument, as one types: ``cmd id=x1 ``, raw JSON too."""
    members = index.members(top.type_name)
    required = [m for m in members if not m.optional]
    value = placeholder(index, required[0].type) if required else None
    if value is not None and len(members) > 1:
        rest = [m for m in members if m is not required[0]]
        word = partial(rest[turn % len(rest)].name, turn)
        pools.add("argument", top.command, f"{top.command} {required[0].name}={value} {word}")
    arg = members[turn % len(members)].name
    head = '{"execute": "' + top.command + '", "arguments": {'
    pools.add("json-argument", top.command, head + '"' + partial(arg, turn))
    if value is not None and len(members) > 1:
        as_json = value if value in ("1", "true", "false") else json.dumps(value)
        pools.add(
            "json-argument",
            top.command,
            head + f'"{required[0].name}": {as_json}, "' + partial(arg, turn + 1),
        )


class Pools:
    """Possible inputs by kind, each with its group (the command it is about)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, str]] = {kind: {} for kind in QUOTAS}

    def add(self, kind: str, group: str, *texts: str) -> None:
        for text in texts:
            self.items[kind].setdefault(text, group)

    def choose(self, total: int) -> list[tuple[str, str]]:
        """Each kind's quota, breadth first: one input per command before a second for any
        (``blockdev-add`` would fill the nested kinds alone), each command's inputs taken
        spread over its list; a shortfall is made up from what is left of the others."""
        scale = total / sum(QUOTAS.values())
        chosen: list[tuple[str, str]] = []
        left: list[tuple[str, str]] = []
        for kind, items in self.items.items():
            order = _breadth_first(items)
            count = round(QUOTAS[kind] * scale)
            chosen += [(kind, text) for text in order[:count]]
            left += [(kind, text) for text in order[count:]]
        chosen += spread(left, total - len(chosen))
        rank = {text: i for kind in self.items for i, text in enumerate(self.items[kind])}
        kinds = list(QUOTAS)
        return sorted(chosen[:total], key=lambda pair: (kinds.index(pair[0]), rank[pair[1]]))


def _breadth_first(items: Mapping[str, str]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for text, group in items.items():
        groups.setdefault(group, []).append(text)
    ranked: list[tuple[int, int, str]] = []
    pinned = groups.pop(PINNED, [])
    for number, texts in enumerate(groups.values()):
        # Golden-ratio order: any first n of a group are spread over all of it.
        order = sorted(range(len(texts)), key=lambda i: (i * 0.6180339887498949) % 1.0)
        ranked += [(rank, number, texts[i]) for rank, i in enumerate(order)]
    return pinned + [text for _, _, text in sorted(ranked)]


def spread(items: Sequence[T], count: int) -> list[T]:
    """``count`` items evenly spaced over ``items`` (all of them if fewer)."""
    if count <= 0:
        return []
    if len(items) <= count:
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


# -- measuring -------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One run: every input with its latency, and the index's one-off costs."""

    schema: str
    entries: int
    reply_bytes: int
    inputs: list[tuple[str, str]]
    latencies_ns: list[int]  # per input: the median of its repetitions
    counts: list[int]  # candidates offered per input
    reps: int
    build_ns: int  # SchemaIndex(reply): median
    decode_ns: int  # json.loads of the reply text: median, for scale

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ns) / 1e6

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ns, 99) / 1e6


def percentile(values: Sequence[int], pct: float) -> float:
    """Nearest-rank percentile: the smallest value at or above ``pct`` % of them."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def median_ns(run: Callable[[], object], reps: int) -> int:
    samples = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        run()
        samples.append(time.perf_counter_ns() - start)
    return int(statistics.median(samples))


def measure(schema: str = SCHEMA, reps: int = 15, total: int = INPUTS) -> Result:
    replies = recording(schema)["replies"]
    entries: list[Any] = replies["query-qmp-schema"]
    text = json.dumps(entries)
    decode_ns = median_ns(lambda: json.loads(text), 20)
    build_ns = median_ns(lambda: SchemaIndex(entries), 20)
    index = SchemaIndex(entries)
    knows = Knows(index, tuple(sorted(c["name"] for c in replies.get("query-commands", []))))
    inputs = generate(index, knows.commands, total)
    counts = [len(complete(before, knows)[1]) for _, before in inputs]  # also warms up
    samples: list[list[int]] = [[] for _ in inputs]
    for _ in range(reps):  # interleaved: a burst of load hits one sample of many inputs
        for i, (_, before) in enumerate(inputs):
            start = time.perf_counter_ns()
            complete(before, knows)
            samples[i].append(time.perf_counter_ns() - start)
    latencies = [int(statistics.median(s)) for s in samples]
    return Result(
        schema, len(entries), len(text), inputs, latencies, counts, reps, build_ns, decode_ns
    )


def report(result: Result, out: TextIO) -> None:
    def verdict(value: float, goal: float) -> str:
        return "PASS" if value < goal else "MISS"

    kinds = {kind: 0 for kind in QUOTAS}
    for kind, _ in result.inputs:
        kinds[kind] += 1
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"qmpsh completion latency: {result.schema}, {result.entries} schema entries", file=out)
    print(
        f"  Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}",
        file=out,
    )
    print(
        f"  {len(result.inputs)} inputs ("
        + ", ".join(f"{k} {n}" for k, n in kinds.items())
        + f"), median of {result.reps} runs each, live look-ups excluded",
        file=out,
    )
    median, p99 = result.median_ms, result.p99_ms
    print(f"  median  {median:7.3f} ms   goal < {GOAL_MEDIAN_MS:g} ms   "
          f"{verdict(median, GOAL_MEDIAN_MS)}", file=out)  # fmt: skip
    print(f"  p99     {p99:7.3f} ms   goal < {GOAL_P99_MS:g} ms   "
          f"{verdict(p99, GOAL_P99_MS)}", file=out)  # fmt: skip
    print(f"  max     {max(result.latencies_ns) / 1e6:7.3f} ms", file=out)
    print("  by kind (median / p99 ms):", file=out)
    for kind in QUOTAS:
        own = [
            ns for (k, _), ns in zip(result.inputs, result.latencies_ns, strict=True) if k == kind
        ]
        if own:
            print(f"    {kind:13} {statistics.median(own) / 1e6:.3f} / "
                  f"{percentile(own, 99) / 1e6:.3f}", file=out)  # fmt: skip
    print("  slowest:", file=out)
    ranked = sorted(range(len(result.inputs)), key=lambda i: -result.latencies_ns[i])
    for i in ranked[:5]:
        print(f"    {result.latencies_ns[i] / 1e6:.3f} ms  {result.counts[i]:3} candidates  "
              f"{result.inputs[i][1]!r}", file=out)  # fmt: skip
    print(
        f"  index: SchemaIndex(reply) {result.build_ns / 1e6:.3f} ms once per connection "
        f"(decoding the {result.reply_bytes // 1024} KB reply text, for scale: "
        f"{result.decode_ns / 1e6:.3f} ms)",
        file=out,
    )


def profile(result: Result, reps: int, out: TextIO) -> None:
    """Where the time goes: cProfile over every input, ``reps`` times."""
    replies = recording(result.schema)["replies"]
    index = SchemaIndex(replies["query-qmp-schema"])
    knows = Knows(index, tuple(sorted(c["name"] for c in replies.get("query-commands", []))))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(reps):
        for _, before in result.inputs:
            complete(before, knows)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.completion",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--schema", default=SCHEMA, help="a recording in tests/data/corpus")
    parser.add_argument("--reps", type=int, default=15, help="runs of each input (default 15)")
    parser.add_argument("--inputs", type=int, default=INPUTS, help="how many inputs (500)")
    parser.add_argument("--profile", action="store_true", help="then print a cProfile")
    parser.add_argument("--show-inputs", action="store_true", help="list the inputs, timed")
    args = parser.parse_args(argv)
    result = measure(args.schema, args.reps, args.inputs)
    out = sys.stdout
    report(result, out)
    if args.show_inputs:
        for (kind, before), ns, count in zip(
            result.inputs, result.latencies_ns, result.counts, strict=True
        ):
            print(f"{ns / 1e6:7.3f} ms {count:4}  {kind:13} {before!r}", file=out)
    if args.profile:
        profile(result, args.reps, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
