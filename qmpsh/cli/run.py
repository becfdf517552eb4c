"""Runs on asyncio: the prompt, ``--launch``, ``--all``, and scripts that need more
than commands (``script``), including those ``directscript`` began and handed over.

``cli`` decides which run this is; here the connection is made (qemu.qmp or
libvirt), a session set up around it, and every qmpsh failure becomes the exit
status of DESIGN.md section 1 (``Interrupted`` goes back to ``cli``, which says
it last).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from qmpsh.batch.direct_runner import Handover
from qmpsh.cli.parser import CONNECT_TIMEOUT, SCRIPT_REPLY_TIMEOUT
from qmpsh.cli.prepare import history_file, make_renderer
from qmpsh.cli.settings import OWN_STYLE, Settings
from qmpsh.errors import ExitStatus, Interrupted, QmpshError
from qmpsh.interactive.reconnect_wait import Connector
from qmpsh.render.output import Output
from qmpsh.session.session import Session


def run(args: argparse.Namespace, qemu_args: list[str]) -> int:
    return asyncio.run(_run(args, qemu_args))


def resume(args: argparse.Namespace, handover: Handover) -> int:
    """Go on with a script ``directscript`` began (see there)."""
    return asyncio.run(_resume(args, handover))


async def _resume(args: argparse.Namespace, handover: Handover) -> int:
    from qmpsh.batch.lines import resumed
    from qmpsh.batch.runner import run_script
    from qmpsh.transport.qemu_qmp import QmpTransport

    renderer = make_renderer(args, interactive=False)
    _stop_on_signals()
    conn = handover.conn
    transport = QmpTransport(conn.target)
    transport.observe(renderer.traffic)
    if handover.transcript is not None:
        transport.observe(handover.transcript, quiet=True)
    # The session watches before the socket is adopted: events may be there at once.
    session = Session(
        transport,
        hmp_mode=handover.hmp_mode,
        index=handover.index,
        events=handover.events,
        reply_timeout=args.timeout or SCRIPT_REPLY_TIMEOUT,
    )
    session.carry_on(handover.received, handover.mark)
    session.on_event = renderer.event  # until run_script puts them in order with replies
    try:
        if conn.ended:  # QEMU quit as told: what it said is in the log, the rest fails
            transport.info = conn.info
            conn.close()
        else:
            await transport.adopt(conn.detach(), conn.info, conn.next_id)
        label = "-c" if args.command else "line"
        lines = resumed(handover.lines)
        status = await run_script(session, lines, renderer, keep_going=args.keep_going, label=label)
        return ExitStatus.FAILED if handover.failed else status
    except QmpshError as err:
        renderer.problem(f"qmpsh: {err}")
        return err.status
    except asyncio.CancelledError as cancel:  # a signal (see _stop_on_signals)
        raise Interrupted(cancel.args[0] if cancel.args else "interrupted") from None
    finally:
        await transport.close()
        for done_with in (handover.source, handover.transcript):
            if done_with is not None:
                done_with.close()


async def _run(args: argparse.Namespace, qemu_args: list[str]) -> int:
    from qmpsh.render.transcript import Transcript
    from qmpsh.transport.launch import launch_async
    from qmpsh.transport.qemu_qmp import Transport
    from qmpsh.transport.targets import connect_warnings, make_transport

    if args.all is not None:
        return await _fleet(args)
    interactive = (
        not args.command and not args.script and sys.stdin.isatty() and sys.stdout.isatty()
    )
    renderer = make_renderer(args, interactive=interactive)
    _stop_on_signals()
    connect_timeout = args.timeout or CONNECT_TIMEOUT
    launched = None
    session = None
    transcript = None
    try:
        if args.launch:
            with renderer.waiting("starting QEMU"):
                launched = await launch_async(qemu_args, timeout=max(connect_timeout, 10))
        target = str(launched.socket) if launched else args.target
        if args.logfile:
            transcript = Transcript(args.logfile, target, warn=renderer.warning)

        async def connect() -> Transport:
            """A negotiated connection, watched by the renderer and the transcript."""
            transport = make_transport(target, negotiate=not args.skip_negotiation)
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
        session = Session(transport, hmp_mode=args.hmp, use_schema=not args.skip_negotiation)
        if interactive:
            session.reply_timeout = args.timeout
            # A QEMU qmpsh launched is not coming back once it is gone.
            reconnect = None if launched else connect
            return await _interactive(session, renderer, target, args, reconnect)
        session.reply_timeout = args.timeout or SCRIPT_REPLY_TIMEOUT
        return await _script(session, renderer, args)
    except QmpshError as err:
        renderer.problem(f"qmpsh: {err}")
        return err.status
    except asyncio.CancelledError as cancel:  # a signal (see _stop_on_signals)
        raise Interrupted(cancel.args[0] if cancel.args else "interrupted") from None
    finally:
        if session is not None:
            await session.transport.close()
        if transcript is not None:
            transcript.close()
        if launched is not None:
            await asyncio.to_thread(launched.stop)


async def _interactive(
    session: Session,
    renderer: Output,
    target: str,
    args: argparse.Namespace,
    reconnect: Connector | None,
) -> int:
    from qmpsh.interactive.repl import Looks, run_repl

    settings: Settings = args.settings
    renderer.banner(target, session.transport.info, session.mode)
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
    from qmpsh.batch.lines import numbered, read_lines
    from qmpsh.fleet.fleet import Fleet, expand
    from qmpsh.fleet.view import FleetView
    from qmpsh.transport.targets import connect_warnings, fleet_domains, make_transport

    _stop_on_signals()
    view = FleetView(json_lines=args.json, events=args.events, pretty=args.pretty)
    aliases = {name: alias.socket for name, alias in args.settings.targets.items()}
    domains = fleet_domains(args.connect) if (args.libvirt or args.connect) else None
    fleet = Fleet(expand(args.all, aliases, domains=domains), view, keep_going=args.keep_going)

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
            return await fleet.run(numbered(args.command), label="-c")
        return await fleet.run(read_lines(sys.stdin.fileno()))
    except asyncio.CancelledError as cancel:  # a signal (see _stop_on_signals)
        raise Interrupted(cancel.args[0] if cancel.args else "interrupted") from None
    finally:
        await fleet.close()


async def _script(session: Session, renderer: Output, args: argparse.Namespace) -> int:
    from qmpsh.batch.lines import numbered, read_lines
    from qmpsh.batch.runner import run_script

    if args.command:
        return await run_script(
            session, numbered(args.command), renderer, keep_going=args.keep_going, label="-c"
        )
    if args.script:  # a script file and the same file on stdin behave the same
        with args.script.open("rb") as script:
            lines = read_lines(script.fileno())
            return await run_script(session, lines, renderer, keep_going=args.keep_going)
    lines = read_lines(sys.stdin.fileno())
    return await run_script(session, lines, renderer, keep_going=args.keep_going)


def _stop_on_signals() -> None:
    """SIGTERM/SIGHUP cancel the run, so ``finally`` still stops a launched QEMU."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always inside asyncio.run
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, task.cancel, f"interrupted ({sig.name})")
