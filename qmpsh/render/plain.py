"""Script output: ``plain_renderer`` and its parts, without rich.

Return values on stdout (compact JSON, ``--pretty`` indents), errors on stderr,
nothing else. Text goes out as ``render.escape`` says for the stream it goes to:
inert on a terminal, encodable anywhere.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING

from qmpsh.render.escape import dump_json, escaped, is_terminal
from qmpsh.render.renderer import JsonLines, Problems, Quiet, Renderer, Span
from qmpsh.session.outcomes import HelpList

if TYPE_CHECKING:
    from qmpsh.language.helptext import CommandHelp

#: Reused for every outcome: plain output is never paged.
_UNPAGED = contextlib.nullcontext()

#: Help's notes are wrapped into their column only if it is at least this wide.
MIN_NOTES = 20


class Streams:
    """stdout and stderr, by default looked up at each write: the REPL swaps sys.stdout."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self._out = out
        self._err = err

    @property
    def out(self) -> IO[str]:
        return self._out or sys.stdout

    @property
    def err(self) -> IO[str]:
        return self._err or sys.stderr

    def write(self, text: str, *, err: bool = False) -> None:
        """``text`` as it is (no newline added), escaped for its stream."""
        stream = self.err if err else self.out
        stream.write(escaped(text, terminal=is_terminal(stream)))
        stream.flush()

    def line(self, *spans: Span, err: bool = False) -> None:
        self.write("".join(text for text, _ in spans) + "\n", err=err)

    def json_line(self, value: object, *, err: bool = False, indent: int | None = None) -> None:
        stream = self.err if err else self.out
        stream.write(dump_json(value, indent=indent, terminal=is_terminal(stream)) + "\n")
        stream.flush()

    def paged(self) -> AbstractContextManager[None]:
        return _UNPAGED


class PlainReplies:
    """Results as a script reads them: JSON, HMP's text, and ``/help`` as bare lines."""

    def __init__(self, streams: Streams, *, pretty: bool = False, width: int | None = None) -> None:
        """``width`` wraps ``/help CMD``'s notes; None: the terminal's, and no
        wrapping into a pipe, where each row stays one line to grep."""
        self.streams = streams
        self.indent = 2 if pretty else None
        self.width = width

    def value(self, value: object) -> None:
        self.streams.json_line(value, indent=self.indent)

    def hmp(self, text: str) -> None:
        self.streams.write(text)

    # Command, event and member names come from the server's schema: server text too.
    def help(self, listing: HelpList) -> None:
        lines = [*listing.builtins, *listing.commands]
        self.streams.write("".join(f"{line}\n" for line in lines))

    def command_help(self, tree: CommandHelp) -> None:
        width = self.width
        if width is None and is_terminal(self.streams.out):
            width = shutil.get_terminal_size().columns
        rows = [tree.title, *("".join(cells).rstrip() for cells in tree_rows(tree, width))]
        self.streams.write("".join(f"{row}\n" for row in rows))


def plain_renderer(
    *,
    pretty: bool = False,
    json_lines: bool = False,
    verbose: bool = False,
    events: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    width: int | None = None,
    progress: bool = False,
) -> Renderer:
    """Script output: return values on stdout, errors on stderr, nothing else; with
    ``progress``, the progress of what ``/wait`` waits for on stderr."""
    streams = Streams(out, err)
    return Renderer(
        writer=streams,
        replies=PlainReplies(streams, pretty=pretty, width=width),
        messages=JsonLines(streams),
        problems=Problems(streams),
        presence=script_presence(progress, err),
        json_lines=json_lines,
        verbose=verbose,
        events=events,
    )


def script_presence(progress: bool, err: IO[str] | None = None) -> Quiet:
    """Nothing of qmpsh's own, but the progress on stderr when ``progress`` says so."""
    if not progress:
        return Quiet()
    from qmpsh.render.script_progress import ScriptProgress  # only a script that shows it

    return ScriptProgress(err)


def tree_rows(tree: CommandHelp, width: int | None = None) -> list[tuple[str, str, str]]:
    """(indented name, type, notes) cells, padded so the columns line up.

    Within ``width`` columns, long notes (an enum's values) go on more rows under
    the notes column: a terminal would wrap them to column 0, across the names.
    """
    names = [("  " * line.depth + line.name, line) for line in tree.lines]
    name_width = max((len(n) for n, line in names if line.type), default=0) + 2
    types = max((len(line.type) for line in tree.lines), default=0) + 2
    rows = []
    for name, line in names:
        if not line.name and line.text:  # a paragraph of the manual's
            indent = "  " * line.depth
            room = None if width is None else width - len(indent)
            rows += [(indent + part, "", "") for part in _words(line.text, room)]
            continue
        if not line.type and not line.notes:
            rows.append((name, "", ""))
            continue
        name_cell, type_cell = name.ljust(name_width), line.type.ljust(types)
        room = None if width is None else width - len(name_cell) - len(type_cell)
        first, *more = _wrapped(line.notes, room)
        rows.append((name_cell, type_cell, first))
        more += _words(line.text, room) if line.text else []
        rows += [(" " * len(name_cell), " " * len(type_cell), part) for part in more]
    return rows


def _words(text: str, room: int | None) -> list[str]:
    """The manual's text in lines of ``room`` (on one line without a width or room)."""
    if room is None or room < MIN_NOTES:
        return [text]
    import textwrap  # only for help with the manual's words: not on a script's start-up

    return textwrap.wrap(text, room, break_on_hyphens=False) or [""]


def _wrapped(notes: str, room: int | None) -> list[str]:
    """``notes`` in lines of at most ``room`` characters, broken after ``|``, ``,`` or before ``(``.

    Too little room (a narrow terminal, a deep tree) leaves them on one line: a
    column a few characters wide is harder to read than a terminal's wrapping.
    """
    if room is None or room < MIN_NOTES or len(notes) <= room:
        return [notes]
    lines = [""]
    for piece in re.split(r"(?<=[|,] )|(?= \()", notes):
        if lines[-1] and len(lines[-1] + piece.rstrip()) > room:
            lines.append("")
            piece = piece.lstrip()
        if len(lines[-1] + piece.rstrip()) > room and piece.endswith(" | "):
            # too long for a row with its '|' (a value and its feature): '|' opens the next
            lines[-1] += piece[:-3]
            lines.append("")
            piece = "| "
        lines[-1] += piece
    return [line.rstrip() for line in lines]
