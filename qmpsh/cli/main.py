"""Command line: parse options, run, and map every failure to an exit code.

Exceptions become exit statuses here (``run`` reports qmpsh's own errors as they
happen), so a user sees one line and never a traceback (docs/architecture.md,
"Exit statuses"). prompt_toolkit and rich are only imported when a person is at
the terminal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from qmpsh.cli import parking, streams
from qmpsh.errors import ExitStatus, Interrupted, UsageError

if TYPE_CHECKING:
    import argparse


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split off ``-- QEMU-ARGS`` for ``--launch``, then parse the rest."""
    from qmpsh.cli.parser import build_parser  # see main(): imported once signals are handled
    from qmpsh.cli.prepare import settle
    from qmpsh.transport.targets import libvirt_target

    argv = list(argv)
    qemu_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, qemu_args = argv[:at], argv[at + 1 :]
    args = build_parser().parse_intermixed_args(argv)  # options may sit between TARGET and SCRIPT
    if (args.libvirt or args.connect) and args.all is None:  # TARGET is URI/DOMAIN
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
    """The entry point. Signals are handled from its first line: a SIGINT, SIGTERM or
    SIGHUP while the rest of qmpsh is imported (this module imports little, so that
    the window before this line is short) is the same one line and 130 as later."""
    handle_signals()
    try:
        streams.mend()  # `>&-`, `2>&-`, `<&-`: before anything opens a file on their numbers
        parking.park("imports")
        return streams.flushed(_main(argv))
    except Interrupted as err:
        _say(f"qmpsh: {err}")
    except KeyboardInterrupt:
        _say("qmpsh: interrupted")
    return ExitStatus.INTERRUPTED


def handle_signals() -> None:
    """SIGTERM and SIGHUP raise ``Interrupted``, SIGINT a ``KeyboardInterrupt`` (unless
    it was ignored, as under nohup), and one swallowed where Python cannot raise it is
    raised again (``_raise_again``)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stopped)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _ctrl_c)
    sys.unraisablehook = _raise_again


def _raise_again(unraisable: sys.UnraisableHookArgs) -> None:
    """A signal whose handler ran inside a weakref callback (importlib's module locks
    use them) or a ``__del__`` raised there, where Python only prints "Exception
    ignored" and goes on: qmpsh would wait on as if nothing had come. The same
    exception is raised again a millisecond later, from SIGALRM, in qmpsh's own code."""
    interruption = unraisable.exc_value
    if not isinstance(interruption, (Interrupted, KeyboardInterrupt)):
        sys.__unraisablehook__(unraisable)
        return

    def again(signum: int, frame: FrameType | None) -> None:
        raise interruption

    signal.signal(signal.SIGALRM, again)
    signal.setitimer(signal.ITIMER_REAL, 0.001)


class _CtrlC(KeyboardInterrupt):
    """SIGINT, as a KeyboardInterrupt of qmpsh's own class.

    CPython marks a KeyboardInterrupt of exactly Python's class that leaves an
    ``exec()`` of a string (a dataclass being made while a module imports) as one
    nothing handled, and ``python -m`` then kills itself with SIGINT after ``main``
    has said its line and returned 130. A subclass is handled alike everywhere else.
    """


def _ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise _CtrlC


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP before ``run`` takes them over: unwind to ``main``."""
    raise Interrupted(f"interrupted ({signal.Signals(signum).name})")


def _main(argv: Sequence[str] | None) -> int:
    try:
        args, qemu_args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        _say(f"qmpsh: {err}")
        return ExitStatus.USAGE
    except SystemExit as exit_:  # argparse: --help, --version, or its own usage error
        return int(exit_.code or 0)
    except OSError as err:  # --version, --print-config ... to a stdout that refuses
        if (status := streams.output_failed(err)) is None:
            raise
        return status
    try:
        from qmpsh.cli.run import run

        return run(args, qemu_args)
    except Interrupted as err:  # SIGTERM / SIGHUP, once everything is stopped
        _say(f"qmpsh: {err}")
        return ExitStatus.INTERRUPTED
    except KeyboardInterrupt:
        _say("qmpsh: interrupted")
        return ExitStatus.INTERRUPTED
    except OSError as err:  # stdout refused: a full disk, closed, or the reader left (| head)
        if (status := streams.output_failed(err)) is None:
            return _internal_error(err)
        return status
    except Exception as err:
        # A signal while a class is made (a module imported late) comes wrapped: Python
        # 3.11 raises what __set_name__ raised as the cause of a RuntimeError. Main says it.
        if isinstance(err.__cause__, (Interrupted, KeyboardInterrupt)):
            raise err.__cause__ from None
        return _internal_error(err)


def _internal_error(err: Exception) -> int:
    """A bug in qmpsh: still one line, unless debugging. The exception's text may
    quote a server's, so it is shortened and escaped as all server text is."""
    if os.environ.get("QMPSH_DEBUG"):
        raise err
    from qmpsh.render.escape import escaped, is_terminal  # see main(): only when needed
    from qmpsh.render.oneline import one_line

    said = escaped(one_line(str(err)), terminal=is_terminal(sys.stderr))
    print(
        f"qmpsh: internal error: {type(err).__name__}: {said} (QMPSH_DEBUG=1 shows where)",
        file=sys.stderr,
    )
    return ExitStatus.FAILED


def _say(line: str) -> None:
    """A last line on stderr; after SIGHUP the terminal may be gone, which is fine."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)
