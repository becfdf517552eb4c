"""The prompt's side of QEMU going away: ask, wait with a visible clock, carry on.

``repl`` decides when the connection is lost; this asks whether to wait (unless
``--reconnect``), retries until a connection is negotiated again (a QEMU restarted
on the same socket path, or a monitor freed by another client), shows the wait
until QEMU is back or Ctrl-C gives up, and moves the session to the new
connection, saying what was kept. Ctrl-C here and
during a command cancels only what runs (``ctrl_c_cancels``), never qmpsh.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from qmpsh.errors import ConnectFailed
from qmpsh.render.oneline import one_line
from qmpsh.render.output import Output
from qmpsh.session.session import Session
from qmpsh.transport.interface import Transport

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

#: One attempt to connect and negotiate; raises ``ConnectFailed`` when it cannot.
Connector = Callable[[], Awaitable[Transport]]
#: Told, after each failed attempt, how long the wait has lasted and why it failed.
Progress = Callable[[float, str], None]

#: Between attempts: quick enough that a restarted QEMU is found at once, rare enough
#: that a missing socket costs nothing.
INTERVAL = 0.25


async def wait_for_server(
    connect: Connector, *, interval: float = INTERVAL, progress: Progress | None = None
) -> Transport:
    """Retry ``connect`` until it succeeds; cancel the task to give up."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        try:
            return await connect()
        except ConnectFailed as err:
            if progress is not None:
                progress(loop.time() - start, str(err))
        await asyncio.sleep(interval)


@contextlib.contextmanager
def ctrl_c_only_clears() -> Iterator[None]:
    """From the banner on, a Ctrl-C that comes while the prompt is not reading keys
    (before it starts, between commands) ends nothing: the terminal, still in cooked
    mode, has thrown away what was typed, which is all Ctrl-C does at the prompt."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, _ignored)
    try:
        yield
    finally:
        if previous is not None:  # None: not set from Python, nothing to put back
            signal.signal(signal.SIGINT, previous)


def _ignored(signum: int, frame: object) -> None:
    """SIGINT outside the prompt and outside a command: nothing runs for it to stop."""


@contextlib.contextmanager
def ctrl_c_cancels(task: asyncio.Future[Any]) -> Iterator[None]:
    """While a command or a wait runs, Ctrl-C cancels it instead of ending qmpsh."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        interruptible = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        interruptible = False
    try:
        yield
    finally:
        if interruptible:
            loop.remove_signal_handler(signal.SIGINT)  # which puts Python's default back
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def cancelled_by_user() -> bool:
    """A CancelledError from Ctrl-C, not from qmpsh itself being cancelled (SIGTERM)."""
    current = asyncio.current_task()
    return current is None or not current.cancelling()


async def confirm(prompt: PromptSession[str], question: str) -> bool:
    """A one-key yes/no on the same terminal; Enter means yes, Ctrl-C/Ctrl-D no."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    kb = KeyBindings()

    @kb.add("y")
    @kb.add("Y")
    @kb.add("enter")
    def _yes(event: KeyPressEvent) -> None:
        event.app.exit(result=True)

    @kb.add("n")
    @kb.add("N")
    @kb.add("c-c")
    @kb.add("c-d")
    def _no(event: KeyPressEvent) -> None:
        event.app.exit(result=False)

    @kb.add("<any>")
    def _other(event: KeyPressEvent) -> None:
        """Anything else is not an answer."""

    ask: PromptSession[bool] = PromptSession(
        question, key_bindings=kb, input=prompt.input, output=prompt.output
    )
    return await ask.prompt_async()


async def wait_for_qemu(
    session: Session, renderer: Output, reconnect: Connector
) -> Transport | None:
    """Retry until QEMU is back (the new transport) or the user gives up (None)."""
    target = session.transport.target
    renderer.notice(f"waiting for QEMU to come back at {target} (Ctrl-C gives up)")
    label = f"waiting for {target}"
    with renderer.waiting(label) as update:

        def progress(elapsed: float, why: str) -> None:
            # e.g. "waiting for /run/vm.qmp: 12 s (no such socket)"
            update(f"{label}: {elapsed:.0f} s ({why.removeprefix(f'{target}: ')})")

        task = asyncio.ensure_future(wait_for_server(reconnect, progress=progress))
        try:
            with ctrl_c_cancels(task):
                return await task
        except asyncio.CancelledError:
            if not cancelled_by_user():
                raise
    renderer.notice("gave up waiting")
    return None


async def reattach(session: Session, renderer: Output, transport: Transport) -> None:
    """Go on with the new connection and say what was kept."""
    old = session.transport
    kept = session.attach(transport)
    await old.close()
    before, after = one_line(old.info.version), one_line(transport.info.version)
    if kept:
        schema = "same QEMU version, schema kept"
    elif before and after and before != after:
        schema = f"QEMU {before} -> {after}, reading the new schema"
    else:
        schema = "reading the schema"
    version = f"QEMU {after}" if after else "the server"
    renderer.notice(f"reconnected to {version} at {transport.target} ({schema})")
