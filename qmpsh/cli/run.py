"""Run a parsed command line: one coroutine, with or without an event loop.

A script to a QMP socket runs over the blocking transport, whose coroutines never
suspend, so ``drive`` runs it without an event loop and asyncio is never imported
(half a plain script's start-up: benchmarks/README.md, P1). The prompt,
``--launch``, ``--all`` and libvirt domains run the same session and runner over
qemu.qmp or libvirt under ``asyncio.run``. Here the connection is made, a session
set up around it, and every qmpsh failure becomes the exit status of
docs/architecture.md ("Exit statuses"); ``Interrupted`` goes back to ``main``,
which says it last.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Coroutine
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from qmpsh.batch.lines import ScriptLines
from qmpsh.batch.runner import run_script
from qmpsh.cli import parking
from qmpsh.cli.parser import CONNECT_TIMEOUT, SCRIPT_REPLY_TIMEOUT
from qmpsh.cli.prepare import history_file, make_renderer
from qmpsh.cli.settings import OWN_STYLE, Settings
from qmpsh.errors import Interrupted, QmpshError
from qmpsh.render.output import Output
from qmpsh.session.session import Session
from qmpsh.transport.interface import Transport
from qmpsh.transport.targets import (
    connect_warnings,
    fleet_domains,
    is_libvirt_target,
    make_transport,
)

if TYPE_CHECKING:
    from qmpsh.interactive.reconnect import Connector
    from qmpsh.render.transcript import Transcript
    from qmpsh.transport.launch import Launched

T = TypeVar("T")


def run(args: argparse.Namespace, qemu_args: list[str]) -> int:
    if _without_loop(args):
        signal.signal(signal.SIGTERM, _interrupted)
        signal.signal(signal.SIGHUP, _interrupted)
        return drive(_run(args, qemu_args, blocking=True))
    # Imported only here: a script never pays for asyncio (20 ms of its 50: benchmarks, P1).
    import asyncio

    # asyncio.run takes SIGINT over (it cancels the run) only from Python's own handler;
    # main's, there for the blocking path, goes back for it.
    if callable(signal.getsignal(signal.SIGINT)):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return asyncio.run(_on_loop(args, qemu_args))


def _without_loop(args: argparse.Namespace) -> bool:
    """A script to one QMP socket: nothing in it needs an event loop."""
    script = bool(args.command or args.script) or not (sys.stdin.isatty() and sys.stdout.isatty())
    return script and args.all is None and not args.launch and not is_libvirt_target(args.target)


def drive(coroutine: Coroutine[object, object, T]) -> T:
    """The result of a coroutine that never suspends (all its awaits end in the
    blocking transport, which returns at once): no event loop needed."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()  # pragma: no cover - a bug: something awaited a real future
    raise RuntimeError("a coroutine over the blocking transport suspended")  # pragma: no cover


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP without an event loop: unwind, so ``finally`` still closes."""
    raise Interrupted(f"interrupted ({signal.Signals(signum).name})")


async def _on_loop(args: argparse.Namespace, qemu_args: list[str]) -> int:
    """``_run`` under asyncio: SIGTERM/SIGHUP cancel it, so ``finally`` still stops a
    launched QEMU."""
    import asyncio  # see run()

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel, f"interrupted ({sig.name})")
    try:
        if args.all is not None:
            return await _fleet(args)
        return await _run(args, qemu_args, blocking=False)
    except asyncio.CancelledError as cancel:
        raise Interrupted(cancel.args[0] if cancel.args else "interrupted") from None


async def _run(args: argparse.Namespace, qemu_args: list[str], *, blocking: bool) -> int:
    interactive = (
        not args.command and not args.script and sys.stdin.isatty() and sys.stdout.isatty()
    )
    renderer = make_renderer(args, interactive=interactive)
    connect_timeout = args.timeout or CONNECT_TIMEOUT
    launched: Launched | None = None
    session: Session | None = None
    transcript: Transcript | None = None
    try:
        if args.launch:
            from qmpsh.transport.launch import launch_async  # asyncio, tempfile: 26 ms

            with renderer.waiting("starting QEMU"):
                launched = await launch_async(qemu_args, timeout=max(connect_timeout, 10))
        target = str(launched.socket) if launched else args.target
        if args.logfile:
            from qmpsh.render.transcript import Transcript  # 8 ms: only with -l

            transcript = Transcript(args.logfile, target, warn=renderer.warning)

        async def connect() -> Transport:
            """A negotiated connection, watched by the renderer and the transcript."""
            transport = make_transport(
                target, negotiate=not args.skip_negotiation, blocking=blocking
            )
            transport.observe(renderer.traffic)
            if transcript is not None:
                transport.observe(transcript, quiet=True)
            try:
                await transport.connect(connect_timeout)
            except BaseException:
                await transport.close()
                raise
            return transport

        with renderer.waiting(f"connecting to {target}"):
            transport = await connect()
        for warning in connect_warnings(transport):  # once per session, not per reconnect
            renderer.warning(warning)
        session = Session(
            transport,
            hmp_mode=args.hmp,
            use_schema=not args.skip_negotiation,
            on_warning=renderer.warning,
            max_input=args.max_input,
        )
        if interactive:
            session.reply_timeout = args.timeout
            # A QEMU qmpsh launched is not coming back once it is gone.
            return await _interactive(
                session,
                renderer,
                target,
                args,
                None if launched else connect,
                launched.describe() if launched else "",
            )
        session.reply_timeout = args.timeout or SCRIPT_REPLY_TIMEOUT
        return await _script(session, renderer, args)
    except QmpshError as err:
        renderer.problem(f"qmpsh: {err}")
        return err.status
    finally:
        # Every step runs, even when a signal cancels this task while the connection
        # closes (a terminal closed: SIGHUP, the end of the input and a dead stdout at
        # once); QEMU is stopped last and here, not in a thread a cancel would leave.
        with contextlib.ExitStack() as cleanup:
            if launched is not None:
                cleanup.callback(launched.stop)
            if transcript is not None:
                cleanup.callback(transcript.close)
            if session is not None:
                await session.transport.close()


async def _script(session: Session, renderer: Output, args: argparse.Namespace) -> int:
    if args.command:
        lines = ScriptLines(None, args.command)
        return await run_script(session, lines, renderer, keep_going=args.keep_going, label="-c")
    if args.script:  # a script file and the same file on stdin behave the same
        with args.script.open("rb") as script:
            lines = ScriptLines(script.fileno())
            return await run_script(session, lines, renderer, keep_going=args.keep_going)
    lines = ScriptLines(sys.stdin.fileno())
    return await run_script(session, lines, renderer, keep_going=args.keep_going)


async def _interactive(
    session: Session,
    renderer: Output,
    target: str,
    args: argparse.Namespace,
    reconnect: Connector | None,
    launched_note: str = "",
) -> int:
    # prompt_toolkit, rich, pygments: 135 ms that only a person at the prompt pays.
    from qmpsh.interactive.prompt import Looks
    from qmpsh.interactive.reconnect import ctrl_c_only_clears
    from qmpsh.interactive.repl import run_repl

    settings: Settings = args.settings
    with ctrl_c_only_clears():
        renderer.banner(target, session.transport.info, session.mode)
        parking.park("prompt")
        if launched_note:
            renderer.notice(launched_note)
        session.muted.update(settings.events_mute)
        return await run_repl(
            session,
            renderer,
            history=history_file(settings),
            looks=Looks(
                pygments_style=None if settings.style == OWN_STYLE else settings.style,
                vi_mode=settings.key_bindings == "vi",
                color=settings.color,
            ),
            reconnect=reconnect,
            auto_reconnect=args.reconnect,
        )


async def _fleet(args: argparse.Namespace) -> int:
    # asyncio (the fleet runs its targets concurrently): not for a script's start-up.
    from qmpsh.fleet.fleet import Fleet, expand
    from qmpsh.fleet.view import FleetView

    view = FleetView(json_lines=args.json, events=args.events, pretty=args.pretty)
    aliases = {name: alias.socket for name, alias in args.settings.targets.items()}
    domains = fleet_domains(args.connect) if (args.libvirt or args.connect) else None
    fleet = Fleet(expand(args.all, aliases, domains=domains), view, keep_going=args.keep_going)
    warned_once: set[str] = set()

    def warn(text: str) -> None:  # the same words from every target: once for the fleet
        if text not in warned_once:
            warned_once.add(text)
            view.problem(f"warning: {text}")

    async def open_session(target: str) -> Session:
        transport = make_transport(target, negotiate=not args.skip_negotiation)
        try:
            await transport.connect(args.timeout or CONNECT_TIMEOUT)
        except BaseException:
            await transport.close()
            raise
        return Session(
            transport,
            hmp_mode=args.hmp,
            use_schema=not args.skip_negotiation,
            reply_timeout=args.timeout or SCRIPT_REPLY_TIMEOUT,
            on_warning=warn,
            max_input=args.max_input,
        )

    try:
        await fleet.connect(open_session, events=args.events or args.json)
        warned = [
            w for m in fleet.members if m.session for w in connect_warnings(m.session.transport)
        ]
        if warned:  # the same words for every domain: once, and how many more
            more = f" (and the same for {len(warned) - 1} more)" if len(warned) > 1 else ""
            view.problem(f"warning: {warned[0]}{more}")
        if args.command:
            return await fleet.run(ScriptLines(None, args.command), label="-c")
        return await fleet.run(ScriptLines(sys.stdin.fileno()))
    finally:
        await fleet.close()
