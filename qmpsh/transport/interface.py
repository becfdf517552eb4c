"""The ``Transport`` interface: all a session needs from a connection to one QMP monitor.

Every method that may wait is a coroutine, so that one session and one script
runner serve every transport (docs/architecture.md, "One path"). The blocking
transport's coroutines never suspend: a script over it runs without an event
loop. qemu.qmp's and libvirt's suspend, and run under ``asyncio.run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

#: Called with ("send" | "recv", message) for every message after negotiation,
#: in the order they cross the socket; events included.
Observer = Callable[[str, Mapping[str, object]], None]


@dataclass(frozen=True)
class ServerInfo:
    """What the greeting said about the server (empty fields with ``-N``)."""

    version: str = ""
    package: str = ""
    capabilities: tuple[str, ...] = ()


def greeting_info(version: object, capabilities: object) -> ServerInfo:
    """``ServerInfo`` from the greeting's ``QMP.version`` and ``QMP.capabilities``."""
    qemu = version.get("qemu", {}) if isinstance(version, dict) else {}
    qemu = qemu if isinstance(qemu, dict) else {}
    numbers = (qemu.get("major"), qemu.get("minor"), qemu.get("micro"))
    package = version.get("package", "") if isinstance(version, dict) else ""
    listed = capabilities if isinstance(capabilities, list) else []
    return ServerInfo(
        ".".join(str(n) for n in numbers), str(package).strip(), tuple(str(c) for c in listed)
    )


class Observers:
    """Who watches a connection's traffic: the one fan-out every transport uses.

    ``quiet`` messages are qmpsh's own questions (schema, names): only the
    observers added with ``quiet=True`` (a transcript of the socket) see them, so
    ``--json`` and ``-v`` show only what the user asked for.
    """

    __slots__ = ("_all", "_loud", "_user")

    def __init__(self) -> None:
        self._user: list[Observer] = []
        self._all: list[Observer] = []
        self._loud: list[Observer] = []  # _user + _all, for the common case

    def add(self, observer: Observer, *, quiet: bool = False) -> None:
        (self._all if quiet else self._user).append(observer)
        self._loud = [*self._user, *self._all]

    def notify(self, direction: str, msg: Mapping[str, object], *, quiet: bool = False) -> None:
        """Hand ``msg`` on; runs for every message, so it is kept lean."""
        for observer in self._all if quiet else self._loud:
            try:
                observer(direction, msg)
            except Exception as err:  # a bug in qmpsh must not cost the user QEMU
                self._failed(observer, err)

    def _failed(self, observer: Observer, err: Exception) -> None:
        """Drop a failing observer and say so once, instead of dropping the connection."""
        # New lists: notify may be walking the old ones right now.
        self._user = [o for o in self._user if o is not observer]
        self._all = [o for o in self._all if o is not observer]
        self._loud = [*self._user, *self._all]
        # Only for qmpsh's own bugs: Python's last-resort handler prints them as one line
        # on stderr (transports have no UI). Imported here: logging costs a script 5 ms.
        import logging

        logging.getLogger("qmpsh").warning(
            "qmpsh: internal error while showing a message (%s: %s); "
            "that display is off for this session",
            type(err).__name__,
            err,
        )


class Transport(Protocol):
    """A connection to one QEMU monitor (or guest agent)."""

    target: str
    info: ServerInfo

    async def connect(self, timeout: float) -> None:
        """Connect and negotiate within ``timeout`` (``ConnectFailed`` if not)."""
        ...

    def observe(self, observer: Observer, *, quiet: bool = False) -> None:
        """Watch traffic; ``quiet=True`` includes qmpsh's own questions (transcripts)."""
        ...

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        """Send one command; return the whole reply (``return`` or ``error``).

        ``fd`` >= 0 is passed to QEMU with the command (SCM_RIGHTS), for getfd/add-fd.
        ``timeout`` bounds the wait for the reply (``NoReply``); None waits as long as
        the connection lives. ``quiet`` marks qmpsh's own questions (see ``Observers``).
        """
        ...

    def submit(self, message: Mapping[str, object]) -> object:
        """Send a command whose reply ``result`` collects later (queries sent ahead).

        It may be held back until the next ``result``, so that many go in one write.
        Returns a ticket for ``result`` or ``drop``; ``InputError`` if it cannot be sent.
        """
        ...

    async def result(self, ticket: object, timeout: float | None) -> dict[str, object]:
        """The reply to a submitted command, as ``execute`` returns it."""
        ...

    def drop(self, ticket: object) -> None:
        """The reply to a submitted command is not wanted (a script stopped before it)."""
        ...

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool:
        """Wait until a message arrives (handed to the observers), ``fd`` is readable,
        or ``timeout`` seconds pass; True only if ``fd`` is readable.

        ``ConnectionLost`` once the connection has ended: what waits for a script's
        next line or for an event learns at once that QEMU is gone.
        """
        ...

    async def wait_closed(self) -> str:
        """Return (with a reason) once the connection has ended."""
        ...

    async def close(self) -> None: ...
