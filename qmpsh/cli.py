"""Command line: parse options, pick REPL or script, map every failure to an exit code.

This is the one place where exceptions become exit statuses (DESIGN.md
section 1), so a user sees one line and never a traceback. prompt_toolkit and
rich are only imported when a person is at the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from qmpsh.arguments import CONNECT_TIMEOUT, SCRIPT_REPLY_TIMEOUT, build_parser
from qmpsh.errors import ExitStatus, QmpshError, UsageError
from qmpsh.options import history_file, make_renderer, settle
from qmpsh.reconnect import Connector
from qmpsh.render import PlainRenderer
from qmpsh.session import Session
from qmpsh.settings import Settings


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split off ``-- QEMU-ARGS`` for ``--launch``, then parse the rest."""
    argv = list(argv)
    qemu_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, qemu_args = argv[:at], argv[at + 1 :]
    args = build_parser().parse_intermixed_args(argv)  # options may sit between TARGET and SCRIPT
    if (args.libvirt or args.connect) and args.all is None:  # TARGET is URI/DOMAIN
        from qmpsh.targets import libvirt_target

        args.target = libvirt_target(args.connect, args.target, launch=args.launch)
    args.given_target = args.target  # before settle() fills in the configured default
    settle(args)  # config file, NO_COLOR, aliases; --version, --completions, --print-config
    if args.all is not None:
        _check_fleet(args)
        return args, qemu_args
    if args.launch and args.target and not args.script:  # qmpsh --launch script.qmp
        args.script, args.target = args.target, None
    if args.script and args.command:
        raise UsageError("give either SCRIPT or -c, not both")
    if args.script and not args.script.is_file():
        raise UsageError(f"{args.script}: no such script file")
    if args.launch and args.target:
        raise UsageError("give either TARGET or --launch, not both")
    if not args.launch and not args.target:
        raise UsageError("no TARGET given (a QMP socket path, HOST:PORT, or --launch)")
    if qemu_args and not args.launch:
        raise UsageError("'-- QEMU-ARGS' only goes with --launch")
    return args, qemu_args


def _check_fleet(args: argparse.Namespace) -> None:
    """``--all`` takes its targets, and runs -c or stdin: no prompt, no launch, no SCRIPT."""
    if args.launch or args.logfile:
        raise UsageError("--all does not go with --launch or -l")
    # Targets may also sit before --all or after other options: they land in the positionals.
    given = [args.given_target, str(args.script) if args.script else None]
    args.all = [*(t for t in given if t and t not in args.all), *args.all]
    args.script = None
    if not args.all:
        raise UsageError("--all needs at least one TARGET")
    if not args.command and sys.stdin.isatty():
        raise UsageError("--all runs -c commands or a script on stdin; it has no prompt")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args, qemu_args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"qmpsh: {err}", file=sys.stderr)
        return ExitStatus.USAGE
    except SystemExit as exit_:  # argparse: --help, --version, or its own usage error
        return int(exit_.code or 0)
    try:
        return asyncio.run(_run(args, qemu_args))
    except KeyboardInterrupt:
        _say("qmpsh: interrupted")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:  # `qmpsh ... | head`: the reader left, nothing more to say
        _silence_stdout()
        return ExitStatus.OK
    except Exception as err:  # a bug in qmpsh: still one line, unless debugging
        if os.environ.get("QMPSH_DEBUG"):
            raise
        print(
            f"qmpsh: internal error: {type(err).__name__}: {err} (QMPSH_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return ExitStatus.FAILED


async def _run(args: argparse.Namespace, qemu_args: list[str]) -> int:
    from qmpsh.launch import launch_async
    from qmpsh.protocol import Transport
    from qmpsh.targets import connect_warnings, make_transport
    from qmpsh.transcript import Transcript

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
        _say(f"qmpsh: {cancel.args[0] if cancel.args else 'interrupted'}")
        return ExitStatus.INTERRUPTED
    finally:
        if session is not None:
            await session.transport.close()
        if transcript is not None:
            transcript.close()
        if launched is not None:
            await asyncio.to_thread(launched.stop)


async def _interactive(
    session: Session,
    renderer: PlainRenderer,
    target: str,
    args: argparse.Namespace,
    reconnect: Connector | None,
) -> int:
    from qmpsh.repl import run_repl

    settings: Settings = args.settings
    renderer.banner(target, session.transport.info, session.mode)
    session.muted.update(settings.events_mute)
    return await run_repl(
        session,
        renderer,
        history=history_file(settings),
        settings=settings,
        reconnect=reconnect,
        auto_reconnect=args.reconnect,
    )


async def _fleet(args: argparse.Namespace) -> int:
    from qmpsh.fleet import Fleet, expand
    from qmpsh.fleetview import FleetView
    from qmpsh.lines import numbered, read_lines
    from qmpsh.targets import connect_warnings, fleet_domains, make_transport

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
        _say(f"qmpsh: {cancel.args[0] if cancel.args else 'interrupted'}")
        return ExitStatus.INTERRUPTED
    finally:
        await fleet.close()


async def _script(session: Session, renderer: PlainRenderer, args: argparse.Namespace) -> int:
    from qmpsh.lines import numbered, read_lines
    from qmpsh.script import run_script

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


def _say(line: str) -> None:
    """A last line on stderr; after SIGHUP the terminal may be gone, which is fine."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
