"""A ``Transport`` that answers in-process, for tests of what sits above the transport.

Only for pure tests of the session, built-ins and completion: everything that talks
to a server talks to real QEMU (or ``fakeserver`` for what QEMU will not do).
Its coroutines never suspend unless ``answer`` does, so a session over it runs with
``qmpsh.cli.run.drive`` as well as under asyncio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from qmpsh.errors import ConnectionLost
from qmpsh.transport.interface import Observer, ServerInfo

Answer = Callable[[Mapping[str, object]], Awaitable[dict[str, object]]]


async def empty_return(message: Mapping[str, object]) -> dict[str, object]:
    return {"return": {}}


@dataclass
class StubTransport:
    """Answers each message with ``answer(message)``; records what was sent."""

    answer: Answer = empty_return
    target: str = "stub"
    info: ServerInfo = field(default_factory=ServerInfo)
    #: Every message executed, and whether it was one of qmpsh's own (quiet) questions.
    sent: list[tuple[Mapping[str, object], bool]] = field(default_factory=list)
    observers: list[Observer] = field(default_factory=list)

    async def connect(self, timeout: float) -> None: ...

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        self.sent.append((message, quiet))
        if not quiet:  # as every transport does: observers see the user's commands
            self.notify("send", message)
        return await self.answer(message)

    def observe(self, observer: Observer, *, quiet: bool = False) -> None:
        self.observers.append(observer)

    def notify(self, direction: str, msg: Mapping[str, object]) -> None:
        """What the server sends (``"recv"``): an event, as if it had arrived."""
        for observer in self.observers:
            observer(direction, msg)

    def submit(self, message: Mapping[str, object]) -> object:
        return message

    async def result(self, ticket: object, timeout: float | None) -> dict[str, object]:
        assert isinstance(ticket, Mapping)
        return await self.execute(ticket)

    def drop(self, ticket: object) -> None: ...

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool:
        if timeout is None:
            raise ConnectionLost("stub: nothing more will arrive")
        return False  # as if the time had passed with nothing new

    async def wait_closed(self) -> str:
        return "stub: closed"

    async def close(self) -> None: ...
