"""Output through rich: ``rich_renderer`` for a person at a terminal, and
``script_color_renderer``, a script's output in colour (``--color=always``).

Both write through ``Consoles`` and format replies and problems alike; a person
also gets events as styled lines, a banner, notices, a spinner and a pager, a
script keeps its output's shape (``renderer.JsonLines``, ``renderer.Quiet``).
Server text is data, never markup: it is printed through ``Text`` objects (or
``style.FastJson`` segments) after ``render.escape`` escaped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Literal

from qmpsh.language.helptext import CommandHelp
from qmpsh.render.escape import dump_json, inert_text
from qmpsh.render.oneline import one_line
from qmpsh.render.output import Relabel
from qmpsh.render.plain import script_presence, tree_rows
from qmpsh.render.renderer import JsonLines, Problems, Renderer, Span
from qmpsh.render.table import flat_rows, table_lines, width
from qmpsh.session.outcomes import HelpList
from qmpsh.transport.interface import ServerInfo

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

    from qmpsh.language.progress import Shown

#: JSON longer than this is coloured by ``style.FastJson``, not laid out by rich's Text.
FAST_JSON = 16 * 1024

#: A wait shorter than this shows nothing; a longer one shows a spinner (``waiting``).
SPINNER_DELAY = 0.3


class Consoles:
    """rich consoles for stdout and stderr, the JSON colours, and the pager."""

    def __init__(
        self,
        *,
        file: IO[str] | None = None,
        width: int | None = None,
        color: bool | None = None,
        pager: Callable[[str], bool] | None = None,
        syntax_style: str | None = None,
    ) -> None:
        """``file`` (tests) receives stdout and stderr output alike; by default rich
        follows ``sys.stdout`` / ``sys.stderr`` at each write. ``color`` None is
        rich's choice (a terminal, and no ``NO_COLOR``); ``pager`` shows output taller
        than the terminal (False if it could not); ``syntax_style`` is a pygments style
        for JSON."""
        from rich.console import Console

        from qmpsh.render.style import rich_theme

        self.pager = pager
        self.syntax_style = syntax_style
        theme = rich_theme()
        force = True if color else None  # --color=always: colour even into a pipe
        plain = None if color is None else not color  # None: rich reads NO_COLOR itself
        # rich gives a dumb terminal no colour even when forced; ``always`` means always.
        dumb = os.environ.get("TERM", "").lower() in ("dumb", "unknown")
        system: Literal["auto", "standard"] = "standard" if color and dumb else "auto"

        def console(stderr: bool) -> Console:
            return Console(
                file=file,
                stderr=stderr,
                theme=theme,
                highlight=False,
                emoji=False,
                width=width,
                force_terminal=force,
                no_color=plain,
                color_system=system,
            )

        self.out, self.err = console(False), console(file is None)

    def line(self, *spans: Span, err: bool = False) -> None:
        first, *rest = spans
        line = inert_text(*first)
        for span in rest:
            line.append_text(inert_text(*span))
        (self.err if err else self.out).print(line, soft_wrap=True)

    def json_line(self, value: object, *, err: bool = False) -> None:
        (self.err if err else self.out).print(self.json_text(value), soft_wrap=True)

    def json_text(self, value: object, indent: int | None = None) -> Text:
        """``value`` as JSON, highlighted."""
        from qmpsh.render.style import highlight_json

        return highlight_json(dump_json(value, indent=indent, terminal=True), self.syntax_style)

    @contextlib.contextmanager
    def paged(self) -> Iterator[None]:
        """What is printed inside goes through the pager if it is taller than the terminal."""
        if self.pager is None or not self.out.is_terminal:
            yield
            return
        with self.out.capture() as captured:
            yield
        text = captured.get()
        if text.count("\n") < self.out.size.height - 1 or not self.pager(text):
            self.out.file.write(text)
            self.out.file.flush()


class RichReplies:
    """Results for a person: highlighted JSON, HMP's text, ``/help`` styled and in columns;
    with ``tables``, an array of flat objects as a table (``render.table``)."""

    def __init__(self, consoles: Consoles, *, pretty: bool = True, tables: bool = False) -> None:
        self.consoles = consoles
        self.indent = 2 if pretty else None
        self.tables = tables

    def value(self, value: object) -> None:
        if self.tables and self._table(value):
            return
        # soft_wrap: the terminal wraps long lines; rich would insert newlines
        self.consoles.out.print(self._json(value), soft_wrap=True)

    def _table(self, value: object) -> bool:
        """``value`` as a table if it is one and fits the terminal's width: a wrapped
        table is unreadable, so a wider one stays JSON."""
        rows = flat_rows(value)
        if rows is None:
            return False
        header, *body = table_lines(rows, terminal=True)
        console = self.consoles.out
        if max(width(line) for line in [header, *body]) > console.width:
            return False
        console.print(inert_text(header, "help.builtin"), soft_wrap=True)
        console.print(inert_text("\n".join(body)), soft_wrap=True)
        return True

    def _json(self, value: object) -> RenderableType:
        """A return value, highlighted; a big one (the schema) by the fast path."""
        text = dump_json(value, indent=self.indent, terminal=True)
        if len(text) > FAST_JSON and self.consoles.syntax_style is None:
            from qmpsh.render.style import FastJson

            return FastJson(text)
        from qmpsh.render.style import highlight_json

        return highlight_json(text, self.consoles.syntax_style)

    def hmp(self, text: str) -> None:
        self.consoles.out.print(inert_text(text.removesuffix("\n")), soft_wrap=True)

    def help(self, listing: HelpList) -> None:
        from rich.columns import Columns

        console = self.consoles.out
        console.print(inert_text("Built-ins:", "help.builtin"))
        for line in listing.builtins:
            console.print(inert_text("  " + line))
        if listing.pattern:
            count = len(listing.commands)
            title = f"Commands matching {listing.pattern!r} ({count}):"
            console.print(inert_text(title, "help.builtin"))
        for group, names in listing.groups:
            console.print(inert_text(f"{group} ({len(names)}):", "help.builtin"))
            console.print(Columns([inert_text(n) for n in names], padding=(0, 2)))
        if not listing.pattern:
            console.print(inert_text("/help CMD explains a command or event.", "notice"))

    def command_help(self, tree: CommandHelp) -> None:
        console = self.consoles.out
        console.print(inert_text(tree.title, "help.builtin"))
        width = console.width if console.is_terminal else None
        for name, kind, notes in tree_rows(tree, width):
            line = inert_text(name, "help.builtin" if kind else "")
            line.append_text(inert_text(kind, "help.type"))
            line.append_text(inert_text(notes, "notice"))
            console.print(line, soft_wrap=True)


class TerminalMessages:
    """Messages for a person: an event as name, time and data; traffic on stdout."""

    def __init__(self, consoles: Consoles) -> None:
        self.consoles = consoles

    def event(self, msg: Mapping[str, object]) -> None:
        line = inert_text(str(msg.get("event", "?")), "event")
        line.append_text(inert_text(f"  {_event_time(msg)}  ", "event.time"))
        line.append_text(self.consoles.json_text(msg.get("data", {})))
        self.consoles.out.print(line, soft_wrap=True)

    def received(self, msg: Mapping[str, object]) -> None:
        self.consoles.json_line(msg)

    def sent(self, msg: Mapping[str, object]) -> None:
        line = inert_text("→ ", "sent")
        line.append_text(self.consoles.json_text(msg))
        self.consoles.out.print(line, soft_wrap=True)


def _event_time(msg: Mapping[str, object]) -> str:
    stamp = msg.get("timestamp")
    if isinstance(stamp, Mapping):
        seconds, micro = stamp.get("seconds"), stamp.get("microseconds")
        if isinstance(seconds, int) and isinstance(micro, int) and seconds >= 0:
            return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{micro:06d}"
    return ""


class TerminalPresence:
    """A person's view of qmpsh itself: the banner, notices, a spinner while waiting,
    and under the spinner's line the progress of what it waits for."""

    shows_progress = True

    def __init__(self, consoles: Consoles) -> None:
        self.console = consoles.out
        self._relabel: Callable[[Text], None] | None = None
        self._label = ""

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        if info.version:
            package = f" ({one_line(info.package)})" if info.package else ""
            head = f"Connected to QEMU {one_line(info.version)}{package} at {target}"
        else:
            head = f"Connected to {target} (no QMP greeting: -N)"
        self.console.print(inert_text(head, "help.builtin"))
        self.console.print(
            inert_text(
                f"{mode} mode. /help lists commands; Tab completes; "
                "Ctrl-D or /exit leaves ('quit' stops QEMU).",
                "notice",
            )
        )

    def notice(self, text: str) -> None:
        self.console.print(inert_text(text, "notice"))

    def waiting(self, label: str) -> contextlib.AbstractContextManager[Relabel]:
        return self._spinner(label)

    @contextlib.contextmanager
    def _spinner(self, label: str) -> Iterator[Relabel]:
        """A spinner once a wait has lasted ``SPINNER_DELAY``, erased when it ends.

        Quick answers show nothing; rich draws nothing when stdout is no terminal.
        """
        status = self.console.status(inert_text(label, "notice"), spinner="dots")
        try:
            later = asyncio.get_running_loop().call_later(SPINNER_DELAY, status.start)
        except RuntimeError:  # no event loop: nothing waits asynchronously here
            later = None
        self._label, self._relabel = label, lambda text: status.update(text)

        def relabel(text: str) -> None:
            self._label = text
            status.update(inert_text(text, "notice"))

        try:
            yield relabel
        finally:
            self._relabel = None
            if later is not None:
                later.cancel()
            status.stop()
            self.console.file.flush()  # the erasing, before anything on stderr

    def progress(self, lines: tuple[Shown, ...]) -> None:
        """The lines under the spinner's, gone with it when the wait ends."""
        if self._relabel is None:
            return
        shown = inert_text("")  # no style of its own: the label's is the label's alone
        shown.append_text(inert_text(self._label, "notice"))
        for line in lines:
            for at, (text, role) in enumerate(
                ((line, "progress"),) if isinstance(line, str) else line
            ):
                shown.append_text(inert_text(("\n" if at == 0 else "") + text, role))
        self._relabel(shown)


def rich_renderer(
    *,
    pretty: bool = True,
    json_lines: bool = False,
    verbose: bool = False,
    file: IO[str] | None = None,
    width: int | None = None,
    color: bool | None = None,
    pager: Callable[[str], bool] | None = None,
    syntax_style: str | None = None,
    tables: bool = False,
) -> Renderer:
    """A person at a terminal: highlighted JSON (``tables``: arrays of flat objects as
    tables), styled errors, every event as it comes (see ``Consoles`` for the rest)."""
    consoles = Consoles(file=file, width=width, color=color, pager=pager, syntax_style=syntax_style)
    return Renderer(
        writer=consoles,
        replies=RichReplies(consoles, pretty=pretty, tables=tables),
        messages=TerminalMessages(consoles),
        problems=Problems(consoles),
        presence=TerminalPresence(consoles),
        json_lines=json_lines,
        verbose=verbose,
        events=True,
        above_prompt=True,
    )


def script_color_renderer(
    *,
    pretty: bool = False,
    json_lines: bool = False,
    verbose: bool = False,
    events: bool = False,
    file: IO[str] | None = None,
    syntax_style: str | None = None,
    progress: bool = False,
) -> Renderer:
    """``--color=always`` in a script: the script's output, line for line, in colour."""
    consoles = Consoles(file=file, color=True, syntax_style=syntax_style)
    return Renderer(
        writer=consoles,
        replies=RichReplies(consoles, pretty=pretty),
        messages=JsonLines(consoles),
        problems=Problems(consoles),
        presence=script_presence(progress),
        json_lines=json_lines,
        verbose=verbose,
        events=events,
    )
