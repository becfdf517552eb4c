"""What the prompt knows of the running QEMU while the user types.

The session learns its schema and names in the background here (the prompt
appears before they have arrived), and live completion values (node names, QOM
paths, jobs ...) are asked on demand and kept until something may have changed
them: a command ran or an event arrived. Scripts need none of this, so it lives
with the prompt and not in the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

from qmpsh.language.live_values import Question
from qmpsh.language.manual import Manual
from qmpsh.language.schema import SchemaIndex
from qmpsh.session.session import Session


class Lookups:
    """The completer's view of a session (``completer.LiveKnowledge``)."""

    def __init__(self, session: Session, *, lookup_timeout: float = 0.5) -> None:
        self.session = session
        #: How long completion waits for a live value before offering what it has.
        self.lookup_timeout = lookup_timeout
        self._learning: asyncio.Future[None] | None = None
        self._lookups: dict[Question, asyncio.Future[object]] = {}
        self._given_up: set[Question] = set()
        session.transport.observe(self._seen)

    def _seen(self, direction: str, msg: Mapping[str, object]) -> None:
        """A command of the user's, or an event (a job moved on, a device went away):
        live values may have changed, so they are asked again."""
        if direction == "send" or "event" in msg:
            self.forget()

    @property
    def index(self) -> SchemaIndex | None:
        return self.session.index

    @property
    def commands(self) -> tuple[str, ...]:
        return self.session.commands

    @property
    def hmp_mode(self) -> bool:
        return self.session.hmp_mode

    def manual(self) -> Manual | None:
        """QEMU's reference manual, read at the first completion that shows its words."""
        return self.session.manual()

    def known_commands(self) -> Collection[str]:
        """Command names for highlighting: the schema's, or those listed before it came."""
        return self.index.commands if self.index else self.commands

    # -- learning -------------------------------------------------------------------

    def learn_in_background(self) -> asyncio.Future[None]:
        """Start learning schema, names and VM name (once per connection); the prompt
        does not wait for it."""
        if self._learning is None:
            self._learning = asyncio.ensure_future(self.session.learn())
        return self._learning

    async def learned(self) -> None:
        """Until the background learning is done: a command waits for it, so the two
        never ask QEMU the same question twice (Ctrl-C on the command leaves it going)."""
        await asyncio.shield(self.learn_in_background())

    def reattached(self) -> None:
        """The session is on a new connection: learn it anew, ask everything anew."""
        if self._learning is not None:
            self._learning.cancel()
        self._learning = None
        self._lookups.clear()
        self._given_up.clear()
        self.session.transport.observe(self._seen)

    # -- live values ----------------------------------------------------------------

    async def lookup(self, question: Question) -> object:
        """A live completion value: the reply, or None if it failed or is not there in time.

        One request per question until ``forget``. Once a request has timed out,
        nothing more is waited for or sent while it is still unanswered (a reply
        that arrives late is used), so a stalled QEMU costs one ``lookup_timeout`` per
        prompt, not one per keystroke, and no pile of queued questions.
        """
        task = self._lookups.get(question)
        if task is None:
            if self._stalled():
                return None
            task = self._lookups[question] = asyncio.ensure_future(self._quietly(question))
        if task.done() or question in self._given_up:
            return self.looked_up(question)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.lookup_timeout)
        except TimeoutError:
            self._given_up.add(question)
            return None

    def _stalled(self) -> bool:
        return any(not self._lookups[q].done() for q in self._given_up if q in self._lookups)

    def looked_up(self, question: Question) -> object:
        """The reply already at hand, without asking (None if there is none)."""
        task = self._lookups.get(question)
        if task is None or not task.done() or task.cancelled():
            return None
        return task.result()

    def forget(self) -> None:
        """Drop live values that may have changed; keep those that cannot (types, HMP help)."""
        self._lookups = {q: task for q, task in self._lookups.items() if q.lasting}
        self._given_up.clear()

    async def _quietly(self, question: Question) -> object:
        try:
            return await self.session.ask(question.command, question.args())
        except Exception:  # a lost connection is the REPL's to report, not completion's
            return None
