"""The qmpsh(1) man page, generated from the argparse definitions in ``cli``.

One source for ``--help`` and ``man qmpsh`` means they never disagree. The
page ships as package data (``qmpsh/man/qmpsh.1``) and under
``share/man/man1`` in the wheel, where pipx and man look; a test fails when
it is stale, and ``python -m qmpsh.cli.manpage --write`` renews it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qmpsh import __version__
from qmpsh.cli.parser import build_parser

PAGE = Path(__file__).resolve().parent.parent / "man" / "qmpsh.1"

#: What argparse does not know: config keys, files and environment (name, meaning).
CONFIG = (
    ("target", "TARGET used when none is given (a path, HOST:PORT or an alias)"),
    ("style", 'pygments style for input and JSON (e.g. "monokai"); "qmpsh" is the default'),
    ("key_bindings", '"emacs" (default) or "vi"'),
    ("history_size", "history entries kept (default 10000; 0 keeps no history file)"),
    ("pretty", "indent JSON in scripts, as -p"),
    ("verbose", "show the JSON sent, as -v"),
    ("color", '"auto", "always" or "never", as --color'),
    ("pager", "false: never page long replies, as --no-pager"),
    ("[events] mute", 'event names or globs not shown at the prompt, e.g. ["RTC_CHANGE"]'),
    ("[targets.NAME] socket", "NAME is an alias: qmpsh NAME connects to this socket"),
    ("[targets.NAME] skip_negotiation", "true for a qemu-ga socket, as -N"),
)
FILES = (
    ("$XDG_CONFIG_HOME/qmpsh/config.toml", "settings (default ~/.config/qmpsh/config.toml)"),
    ("$XDG_STATE_HOME/qmpsh/history", "REPL history, 0600 (default ~/.local/state/qmpsh)"),
)
ENVIRONMENT = (
    ("NO_COLOR", "when set and not empty, no colour (unless --color or the config says so)"),
    ("PAGER", "pager for replies taller than the terminal (default: less -R)"),
    ("LESS", "set to FRX for the pager unless already set"),
    ("QMPSH_QEMU", "QEMU binary for --launch (default qemu-system-x86_64)"),
    ("QMPSH_QEMU_IMG", "qemu-img for --launch's scratch disk (default: the one beside the QEMU)"),
    ("QMPSH_DEBUG", "show a traceback for an internal error"),
)


def roff(text: str) -> str:
    """Text as roff reads it literally: backslashes, hyphens, leading dots."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n")
    )


def _flags(action: argparse.Action) -> str:
    value = ""
    if action.nargs != 0:
        metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        value = f" \\fI{roff(metavar)}\\fR"
    return ", ".join(f"\\fB{roff(flag)}\\fR{value}" for flag in action.option_strings)


def _help(action: argparse.Action, prog: str) -> str:
    text = (action.help or "") % {**vars(action), "prog": prog}
    if action.choices and not any(str(c) in text for c in action.choices):
        text += f" ({', '.join(str(c) for c in action.choices)})"
    return roff(text)


def render(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    out = [
        f'.TH {prog.upper()} 1 "" "{prog} {__version__}" "User Commands"',
        ".SH NAME",
        f"{prog} \\- {roff((parser.description or '').rstrip('.'))}",
        ".SH SYNOPSIS",
        ".nf",
        *(roff(line.strip()) for line in (parser.usage or prog).splitlines()),
        ".fi",
        ".SH DESCRIPTION",
        roff(
            f"{prog} connects to a QEMU QMP socket, negotiates, and gives a prompt with "
            "completion from the server's own schema, highlighted replies and events as they "
            "happen. When stdin or stdout is not a terminal, or with -c or SCRIPT, it runs a "
            "script: results only, stopping at the first failure, with exit codes automation "
            "can trust."
        ),
    ]
    positionals = [a for a in parser._actions if not a.option_strings]
    if positionals:
        out.append(".SH ARGUMENTS")
        for action in positionals:
            name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
            out += [".TP", f"\\fI{roff(name)}\\fR", _help(action, prog)]
    out.append(".SH OPTIONS")
    for action in parser._actions:
        if action.option_strings and action.help != argparse.SUPPRESS:
            out += [".TP", _flags(action), _help(action, prog)]
    out += _epilog(parser.epilog or "")
    out += [".SH CONFIGURATION", roff("TOML; an unknown key or a wrong value is an error.")]
    out += _table(CONFIG)
    out += [".SH FILES", *_table(FILES), ".SH ENVIRONMENT", *_table(ENVIRONMENT)]
    out += [".SH SEE ALSO", "\\fBqemu\\fR(1), \\fBqemu\\-ga\\fR(8)", ""]
    return "\n".join(out)


def _epilog(epilog: str) -> list[str]:
    """``--help``'s epilog sections (``title:`` then indented lines) as man sections."""
    out: list[str] = []
    for block in epilog.strip().split("\n\n"):
        title, _, body = block.partition("\n")
        heading = title.rstrip(":").upper()
        if heading == "EXIT CODES":
            heading = "EXIT STATUS"
        out += [f".SH {roff(heading)}", ".nf", roff(body.rstrip()), ".fi"]
    return out


def _table(rows: tuple[tuple[str, str], ...]) -> list[str]:
    out = []
    for name, meaning in rows:
        out += [".TP", f"\\fB{roff(name)}\\fR", roff(meaning)]
    return out


def main(argv: list[str]) -> int:
    """``python -m qmpsh.cli.manpage --write`` renews the shipped page; no argument prints it."""
    text = render(build_parser())
    if argv == ["--write"]:
        PAGE.parent.mkdir(exist_ok=True)
        PAGE.write_text(text)
        return 0
    if argv:
        print("usage: python -m qmpsh.cli.manpage [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
