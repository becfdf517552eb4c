"""Polling jobs and the migration while something waits for them (``/wait``, ``/jobs``).

The session asks through its transport like any question of its own (quiet, so
``--json`` and ``-v`` do not show it); what to show and how fast things go is
``language.progress``'s. Nothing is polled when nothing runs: after a poll that
finds nothing running, the next comes only when an event says a job or the
migration changed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from qmpsh.language.progress import INTERVAL, Sample, Shown, lines, running, sample
from qmpsh.session.events import Logged

#: Shows progress lines; ``()`` erases them.
ProgressSink = Callable[[tuple[Shown, ...]], None]
Ask = Callable[[str], Awaitable[object]]

#: Events that say a job or the migration started or changed: polling resumes.
_MOVERS = ("JOB_STATUS_CHANGE", "MIGRATION", "BLOCK_JOB_")


class Poller:
    """Asks ``query-jobs`` and ``query-migrate`` every ``INTERVAL`` while something runs."""

    def __init__(
        self, ask: Ask, sink: ProgressSink, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ask, self._sink, self._clock = ask, sink, clock
        self._before: Sample | None = None
        self._due: float | None = clock()  # the first poll at once
        self._shown = False
        self.latest: Sample | None = None

    @property
    def idle(self) -> bool:
        """Polled, and nothing ran: no poll is due until an event says otherwise."""
        return self.latest is not None and self._due is None

    def bounded(self, left: float | None) -> float | None:
        """How long to wait for an event before the next poll is due (``left`` at most)."""
        if self._due is None:
            return left
        until = max(0.0, self._due - self._clock())
        return until if left is None else min(left, until)

    async def poll_if_due(self, events: Iterable[Logged] = ()) -> None:
        """Poll if the interval has passed, or if ``events`` say something started."""
        if self._due is None and any(e.name.startswith(_MOVERS) for e in events):
            self._due = self._clock()
        if self._due is None or self._clock() < self._due:
            return
        await self.poll()

    async def poll(self) -> Sample:
        jobs = await self._ask("query-jobs")
        migration = await self._ask("query-migrate")
        now = sample(self._clock(), jobs, migration)
        shown = lines(self._before, now)
        self._before = self.latest = now
        self._due = now.at + INTERVAL if running(now) else None
        if shown or self._shown:
            self._sink(shown)
            self._shown = bool(shown)
        return now

    def close(self) -> None:
        """Erase what was shown."""
        if self._shown:
            self._shown = False
            self._sink(())
