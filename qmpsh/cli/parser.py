"""The command line qmpsh takes: every option, its help, and the exit codes.

``cli`` parses with it; the man page (``manpage``) and the shell completion
scripts (``shells``) are generated from it, so all three always agree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qmpsh.cli.settings import COLORS, SHELLS
from qmpsh.language.builtin_registry import help_lines
from qmpsh.language.syntax import MAX_INPUT

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

#: ``--timeout`` when not given: connecting, and each reply in a script or -c.
CONNECT_TIMEOUT = 5.0
SCRIPT_REPLY_TIMEOUT = 60.0

_INPUT = """\
input:
  query-status                         a QMP command
  blockdev-add driver=qcow2 file.driver=file file.filename=/x.qcow2
                                       k=v arguments; dotted keys nest
  qom-get path="/machine" property=type  quoted values are strings
  {"execute": "query-status"}          raw JSON
  transaction( a k=v ; b k=v )         a QMP transaction (one action per line too)
  /hmp info block                      one HMP line; /hmp and /qmp switch mode
"""
_EXIT_CODES = """\
exit codes:
  0 all commands succeeded     1 a command failed or a line did not parse
  2 usage error                3 could not connect or negotiate
  4 connection lost            130 interrupted
"""
#: The built-ins (and the '!' prefix) as ``/help`` lists them.
_BUILTINS = "built-ins:\n" + "".join(f"  {line}\n" for line in help_lines())

EPILOG = "\n".join((_INPUT, _BUILTINS, _EXIT_CODES))


class _Parser(argparse.ArgumentParser):
    """argparse's own, but help that cannot be written is a write error (argparse
    drops it in silence): ``qmpsh --help > /dev/full`` fails as any output does."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qmpsh",
        description="An interactive shell for QEMU's machine protocol (QMP).",
        usage=(
            "qmpsh [OPTIONS] TARGET [SCRIPT]\n"
            "       qmpsh [OPTIONS] --launch [SCRIPT] [-- QEMU-ARGS...]\n"
            "       qmpsh [OPTIONS] --libvirt DOMAIN | --connect URI DOMAIN [SCRIPT]\n"
            "       qmpsh [OPTIONS] [--libvirt] --all TARGET... [-c CMD | < SCRIPT]"
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        nargs="?",
        metavar="TARGET",
        help="/path/to.sock, HOST:PORT, [v6addr]:PORT, or a libvirt domain as URI/DOMAIN",
    )
    parser.add_argument(
        "script",
        nargs="?",
        metavar="SCRIPT",
        type=Path,
        help="run this file as a script (as if on stdin)",
    )
    parser.add_argument(
        "--launch",
        action="store_true",
        help="start a throwaway QEMU (TCG) and attach; it is stopped on exit",
    )
    parser.add_argument(
        "--libvirt",
        action="store_true",
        help="TARGET is a libvirt domain (at $LIBVIRT_DEFAULT_URI, else qemu:///system)",
    )
    parser.add_argument(
        "--connect",
        metavar="URI",
        help="TARGET is a libvirt domain at URI (e.g. qemu+ssh://host/system)",
    )
    parser.add_argument("-H", "--hmp", action="store_true", help="start in HMP mode")
    parser.add_argument("-p", "--pretty", action="store_true", help="indent JSON in scripts")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the JSON sent")
    parser.add_argument(
        "-N",
        "--skip-negotiation",
        action="store_true",
        help="no greeting or negotiation (a qemu-ga socket)",
    )
    parser.add_argument(
        "-l",
        "--logfile",
        metavar="FILE",
        type=Path,
        help="append a transcript: every message both ways, one JSON line each (0600)",
    )
    parser.add_argument(
        "--events",
        action="store_true",
        help="in scripts, print events too (as JSON lines, in order with the results)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help=(
            "in scripts, show the progress of jobs and migration /wait waits for on "
            "stderr even when it is not a terminal"
        ),
    )
    parser.add_argument(
        "-c",
        "--command",
        action="append",
        metavar="CMD",
        default=None,
        help="run CMD and exit (repeatable; runs in order)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print every message received (replies as sent, events) as one JSON line",
    )
    parser.add_argument(
        "--return-value",
        action="store_true",
        help="print return values as compact JSON, as scripts do, also on a terminal",
    )
    parser.add_argument(
        "-k",
        "--keep-going",
        action="store_true",
        help="in scripts, go on after a failure (exit 1 at the end if any failed)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=(
            "how long to wait for the connection and greeting (default 5) and for each "
            f"reply (default {SCRIPT_REPLY_TIMEOUT:g} in scripts, no limit at the prompt: "
            "Ctrl-C stops waiting)"
        ),
    )
    parser.add_argument(
        "--max-input",
        type=_characters,
        default=MAX_INPUT,
        metavar="CHARS",
        help=(
            f"refuse a longer input: a script line, -c, a paste (default {MAX_INPUT:,}; "
            "QEMU parses a long command slowly, its monitor stalled meanwhile)"
        ),
    )
    parser.add_argument(
        "--all",
        nargs="*",
        metavar="TARGET",
        help=(
            "run -c commands or a script on stdin on every TARGET at once (sockets, "
            "globs such as '/run/vms/*.qmp', aliases; domains or patterns with --libvirt); "
            "output tagged per target, exit status the worst of them"
        ),
    )
    parser.add_argument(
        "--reconnect",
        action="store_true",
        help=(
            "at the prompt, when QEMU goes away, wait for it to come back without asking "
            "(scripts never reconnect: they exit 4)"
        ),
    )
    parser.add_argument(
        "--color",
        choices=COLORS,
        metavar="WHEN",
        help="colour: auto (on a terminal, unless NO_COLOR is set), always, never",
    )
    parser.add_argument(
        "--no-pager",
        dest="pager",
        action="store_false",
        default=None,
        help="print long replies straight to the terminal, not through $PAGER (less -R)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="show the effective settings and where each comes from, then exit",
    )
    parser.add_argument(
        "--completions",
        choices=SHELLS,
        metavar="SHELL",
        help="print the completion script for bash, zsh or fish, then exit",
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="show the versions of qmpsh, qemu.qmp and Python, then exit",
    )
    return parser


def _characters(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"out of range: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"out of range: {text!r}")
    return value
