"""Script output: ``plain_renderer`` and its parts, without rich.

Return values on stdout (compact JSON, ``--pretty`` indents), errors on stderr,
nothing else. Text goes out as ``render.escape`` says for the stream it goes to:
inert on a terminal, encodable anywhere.
"""

from __future__ import annotations

import contextlib
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

    def __init__(self, streams: Streams, *, pretty: bool = False) -> None:
        self.streams = streams
        self.indent = 2 if pretty else None

    def value(self, value: object) -> None:
        self.streams.json_line(value, indent=self.indent)

    def hmp(self, text: str) -> None:
        self.streams.write(text)

    # Command, event and member names come from the server's schema: server text too.
    def help(self, listing: HelpList) -> None:
        lines = [*listing.builtins, *listing.commands]
        self.streams.write("".join(f"{line}\n" for line in lines))

    def command_help(self, tree: CommandHelp) -> None:
        rows = [tree.title, *("".join(cells).rstrip() for cells in tree_rows(tree))]
        self.streams.write("".join(f"{row}\n" for row in rows))


def plain_renderer(
    *,
    pretty: bool = False,
    json_lines: bool = False,
    verbose: bool = False,
    events: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> Renderer:
    """Script output: return values on stdout, errors on stderr, nothing else."""
    streams = Streams(out, err)
    return Renderer(
        writer=streams,
        replies=PlainReplies(streams, pretty=pretty),
        messages=JsonLines(streams),
        problems=Problems(streams),
        presence=Quiet(),
        json_lines=json_lines,
        verbose=verbose,
        events=events,
    )


def tree_rows(tree: CommandHelp) -> list[tuple[str, str, str]]:
    """(indented name, type, notes) cells, padded so the columns line up."""
    names = [("  " * line.depth + line.name, line) for line in tree.lines]
    width = max((len(n) for n, line in names if line.type), default=0) + 2
    types = max((len(line.type) for line in tree.lines), default=0) + 2
    rows = []
    for name, line in names:
        if not line.type and not line.notes:
            rows.append((name, "", ""))
        else:
            rows.append((name.ljust(width), line.type.ljust(types), line.notes))
    return rows
