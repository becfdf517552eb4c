"""The session's event log: every event kept (bounded), numbered in socket order.

Numbers are shared with replies (``Session`` counts every message received), so
a script can print events and replies in the order they crossed the socket, and
``/wait`` can find an event that arrived before it was asked for.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from qmpsh.language import job_ends
from qmpsh.language.syntax import Arg, as_written

#: Events kept for /events and /wait; older ones fall out.
CAPACITY = 10_000


@dataclass(frozen=True)
class Logged:
    seq: int
    message: Mapping[str, object]

    @property
    def name(self) -> str:
        return str(self.message.get("event", ""))


@dataclass(frozen=True)
class Match:
    """An event name glob and ``key=value`` conditions on its data (dotted keys)."""

    pattern: str = "*"
    conditions: tuple[Arg, ...] = ()

    def __call__(self, logged: Logged) -> bool:
        if not fnmatch.fnmatchcase(logged.name, self.pattern):
            return False
        data = logged.message.get("data")
        return all(_holds(data, cond) for cond in self.conditions)


def _holds(data: object, cond: Arg) -> bool:
    for part in cond.path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    # device=drive0 and len=5 both match; so does a quoted "5" against a number 5.
    # But not flag=1 against true, nor 0 against false (Python's True == 1).
    if data == cond.value and isinstance(data, bool) == isinstance(cond.value, bool):
        return True
    return not isinstance(data, (dict, list)) and as_written(data) == cond.raw.strip("\"'")


class EventLog:
    """Bounded and ordered; waiting for the next event is the transport's (``Session``)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._events: deque[Logged] = deque(maxlen=capacity)

    def add(self, seq: int, message: Mapping[str, object]) -> Logged:
        logged = Logged(seq, message)
        self._events.append(logged)
        return logged

    def __iter__(self) -> Iterator[Logged]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def select(self, match: Match, after: int = -1) -> list[Logged]:
        return [e for e in self._newer(after) if match(e)]

    def _newer(self, after: int) -> list[Logged]:
        """Events numbered after ``after``, oldest first; walks only those (floods stay cheap)."""
        newer: list[Logged] = []
        for logged in reversed(self._events):
            if logged.seq <= after:
                break
            newer.append(logged)
        newer.reverse()
        return newer

    def first(self, match: Match, after: int) -> Logged | None:
        """The first matching event numbered after ``after``."""
        for logged in self._newer(after):
            if match(logged):
                return logged
        return None


def failure(logged: Logged, match: Match) -> str | None:
    """What failed, if ``logged`` ends a job or a migration in failure (the rule is
    ``job_ends.failed``) and ``match`` did not ask for exactly that (a condition on the
    key that says so): a script waiting for a job to end must not go on as if it had
    succeeded."""
    data = logged.message.get("data")
    if not isinstance(data, Mapping):
        return None
    said = job_ends.failed(logged.name, data)
    key = job_ends.FAILING[logged.name][0] if said is not None else ""
    if said is None or any(cond.path[0] == key for cond in match.conditions):
        return None
    return said


def names(events: Iterable[Logged]) -> list[str]:
    return [e.name for e in events]
