"""Pure: ``/watch``'s screen, and which of it changed since the one before.

A line is spans of (text, role); what changed since the previous run, from the
first character that differs to the end of its line (all of a line only cut
short), takes the role ``changed``, as ``watch -d`` marks it, so a counter that
moves stands out in a tree that does not.
"""

from __future__ import annotations

import json

from qmpsh.language.progress import Styled

#: How often ``/watch`` runs its query when no ``interval=`` says (watch(1)'s default).
DEFAULT_INTERVAL = 2.0
#: The shortest ``interval=``: QEMU answers queries from its main loop.
MIN_INTERVAL = 0.1


def reply_lines(value: object = None, error: tuple[str, str] | None = None) -> tuple[str, ...]:
    """A reply as ``/watch`` compares it run to run: its value as indented JSON, or
    QEMU's error in one line."""
    if error is not None:
        return (f"{error[0]}: {error[1]}",)
    return tuple(json.dumps(value, indent=2, ensure_ascii=False).splitlines())


def screen(
    heading: str, before: tuple[str, ...] | None, now: tuple[str, ...]
) -> tuple[Styled, ...]:
    """The whole screen: ``heading`` (the query, how often, when), then ``now`` marked."""
    return (((heading, "help.builtin"),), *marked(before, now))


def marked(before: tuple[str, ...] | None, now: tuple[str, ...]) -> tuple[Styled, ...]:
    """``now``'s lines, what differs from ``before``'s line at the same place marked;
    nothing is marked on the first run (``before`` None)."""
    shown: list[Styled] = []
    for at, line in enumerate(now):
        old = None if before is None else (before[at] if at < len(before) else "")
        if old is None or old == line:
            shown.append(((line, ""),))
            continue
        same = _common(old, line)
        if same == len(line):  # only cut short: mark all of it, or nothing would show
            same = 0
        shown.append(
            tuple(span for span in ((line[:same], ""), (line[same:], "changed")) if span[0])
        )
    return tuple(shown)


def _common(a: str, b: str) -> int:
    """The length of the prefix ``a`` and ``b`` share."""
    for at, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return at
    return min(len(a), len(b))


def interval(value: object) -> float:
    """``interval=S`` as seconds; ValueError for anything but a number at least ``MIN_INTERVAL``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < MIN_INTERVAL:
        raise ValueError(f"interval= takes seconds, at least {MIN_INTERVAL:g}")
    return float(value)
