"""Everything qmpsh prints on a terminal, through rich.

``RichRenderer`` serves a person at a terminal (highlighted JSON, styled errors,
a pager for replies taller than the screen, a spinner while waiting);
``ScriptColorRenderer`` is script output in colour (``--color=always``). Server
text is data, never markup: it is printed through ``Text`` objects (or
``style.FastJson`` segments) after ``render.escape`` escaped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING

from qmpsh.language.helptext import CommandHelp
from qmpsh.render.escape import dump_json, visible
from qmpsh.render.plain import PlainRenderer, Relabel, hmp_text, tree_rows
from qmpsh.session.outcomes import HelpList, Outcome, Reply
from qmpsh.transport.failures import ServerInfo

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

#: JSON longer than this is coloured by ``style.FastJson``, not laid out by rich's Text.
FAST_JSON = 16 * 1024

#: A wait shorter than this shows nothing; a longer one shows a spinner (``waiting``).
SPINNER_DELAY = 0.3


class RichRenderer(PlainRenderer):
    """A person at a terminal: highlighted JSON, styled errors and events."""

    def __init__(
        self,
        *,
        pretty: bool = True,
        json_lines: bool = False,
        verbose: bool = False,
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
        super().__init__(pretty=pretty, json_lines=json_lines, verbose=verbose)
        from rich.console import Console

        from qmpsh.render.style import rich_theme

        self.pager = pager
        self.syntax_style = syntax_style
        theme = rich_theme()
        force = True if color else None  # --color=always: colour even into a pipe
        plain = None if color is None else not color  # None: rich reads NO_COLOR itself

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
            )

        self.console, self.err_console = console(False), console(file is None)

    def _json_text(self, value: object, indent: int | None = 2) -> Text:
        from qmpsh.render.style import highlight_json

        return highlight_json(dump_json(value, indent=indent, terminal=True), self.syntax_style)

    def _reply_json(self, value: object) -> RenderableType:
        """A return value, highlighted; a big one (the schema) by the fast path."""
        text = dump_json(value, indent=2 if self.pretty else None, terminal=True)
        if len(text) > FAST_JSON and self.syntax_style is None:
            from qmpsh.render.style import FastJson

            return FastJson(text)
        from qmpsh.render.style import highlight_json

        return highlight_json(text, self.syntax_style)

    def outcome(self, outcome: Outcome) -> None:
        with self._paged():
            super().outcome(outcome)

    @contextlib.contextmanager
    def _paged(self) -> Iterator[None]:
        """What is printed inside goes through the pager if it is taller than the terminal."""
        if self.pager is None or not self.console.is_terminal:
            yield
            return
        with self.console.capture() as captured:
            yield
        text = captured.get()
        if text.count("\n") < self.console.size.height - 1 or not self.pager(text):
            self.console.file.write(text)
            self.console.file.flush()

    def waiting(self, label: str) -> contextlib.AbstractContextManager[Relabel]:
        return self._spinner(label)

    @contextlib.contextmanager
    def _spinner(self, label: str) -> Iterator[Relabel]:
        """A spinner once a wait has lasted ``SPINNER_DELAY``, erased when it ends.

        Quick answers show nothing; rich draws nothing when stdout is no terminal.
        """
        status = self.console.status(self._plain(label, "notice"), spinner="dots")
        try:
            later = asyncio.get_running_loop().call_later(SPINNER_DELAY, status.start)
        except RuntimeError:  # no event loop: nothing waits asynchronously here
            later = None
        try:
            yield lambda text: status.update(self._plain(text, "notice"))
        finally:
            if later is not None:
                later.cancel()
            status.stop()
            self.console.file.flush()  # the erasing, before anything on stderr

    def _plain(self, text: str, style: str = "") -> Text:
        from rich.text import Text

        return Text(visible(text), style=style)

    def reply(self, reply: Reply) -> None:
        if self.json_lines:
            return
        if not reply.ok:
            cls, desc = reply.error
            line = self._plain(cls, "error")
            line.append(": ")
            line.append_text(self._plain(desc, "error.desc"))
            self.err_console.print(line, soft_wrap=True)
        elif reply.hmp and isinstance(reply.value, str):
            text = hmp_text(reply.value)
            if text:
                self.console.print(self._plain(text.removesuffix("\n")), soft_wrap=True)
        else:  # soft_wrap: the terminal wraps long lines; rich would insert newlines
            self.console.print(self._reply_json(reply.value), soft_wrap=True)

    def help(self, listing: HelpList) -> None:
        from rich.columns import Columns

        self.console.print(self._plain("Built-ins:", "help.builtin"))
        for line in listing.builtins:
            self.console.print(self._plain("  " + line))
        if listing.pattern:
            count = len(listing.commands)
            title = f"Commands matching {listing.pattern!r} ({count}):"
            self.console.print(self._plain(title, "help.builtin"))
        for group, names in listing.groups:
            self.console.print(self._plain(f"{group} ({len(names)}):", "help.builtin"))
            self.console.print(Columns([self._plain(n) for n in names], padding=(0, 2)))
        if not listing.pattern:
            self.console.print(self._plain("/help CMD explains a command or event.", "notice"))

    def command_help(self, tree: CommandHelp) -> None:
        self.console.print(self._plain(tree.title, "help.builtin"))
        for name, kind, notes in tree_rows(tree):
            line = self._plain(name, "help.builtin" if kind else "")
            line.append_text(self._plain(kind, "help.type"))
            line.append_text(self._plain(notes, "notice"))
            self.console.print(line, soft_wrap=True)

    def notice(self, text: str) -> None:
        self.console.print(self._plain(text, "notice"))

    def problem(self, text: str) -> None:
        self.err_console.print(self._plain(text, "error"), soft_wrap=True)

    def warning(self, text: str) -> None:
        self.err_console.print(self._plain(f"warning: {text}", "notice"), soft_wrap=True)

    def traffic(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction == "recv" and self.json_lines:
            self.console.print(self._json_text(msg, None), soft_wrap=True)
        elif direction == "send" and self.verbose:
            line = self._plain("→ ", "sent")
            line.append_text(self._json_text(msg, None))
            self.console.print(line, soft_wrap=True)

    def event(self, msg: Mapping[str, object]) -> None:
        if not self.json_lines:  # --json printed it as traffic
            self.show_event(msg)

    def show_event(self, msg: Mapping[str, object]) -> None:
        line = self._plain(str(msg.get("event", "?")), "event")
        line.append_text(self._plain(f"  {_event_time(msg)}  ", "event.time"))
        line.append_text(self._json_text(msg.get("data", {}), None))
        self.console.print(line, soft_wrap=True)

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        if info.version:
            package = f" ({info.package})" if info.package else ""
            head = f"Connected to QEMU {info.version}{package} at {target}"
        else:
            head = f"Connected to {target} (no QMP greeting: -N)"
        self.console.print(self._plain(head, "help.builtin"))
        self.console.print(
            self._plain(
                f"{mode} mode. /help lists commands; Tab completes; "
                "Ctrl-D or /exit leaves ('quit' stops QEMU).",
                "notice",
            )
        )


def _event_time(msg: Mapping[str, object]) -> str:
    stamp = msg.get("timestamp")
    if isinstance(stamp, Mapping):
        seconds, micro = stamp.get("seconds"), stamp.get("microseconds")
        if isinstance(seconds, int) and isinstance(micro, int) and seconds >= 0:
            return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{micro:06d}"
    return ""


class ScriptColorRenderer(RichRenderer):
    """``--color=always`` in a script: the script's output, line for line, in colour."""

    def __init__(
        self,
        *,
        pretty: bool = False,
        json_lines: bool = False,
        verbose: bool = False,
        events: bool = False,
        file: IO[str] | None = None,
        syntax_style: str | None = None,
    ) -> None:
        super().__init__(
            pretty=pretty,
            json_lines=json_lines,
            verbose=verbose,
            file=file,
            color=True,
            syntax_style=syntax_style,
        )
        self.events = events

    notice = PlainRenderer.notice
    banner = PlainRenderer.banner
    event = PlainRenderer.event
    waiting = PlainRenderer.waiting

    def show_event(self, msg: Mapping[str, object]) -> None:
        self.console.print(self._json_text(msg, None), soft_wrap=True)

    def traffic(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction == "recv" and self.json_lines:
            self.console.print(self._json_text(msg, None), soft_wrap=True)
        elif direction == "send" and self.verbose:  # stderr, as in any script
            self.err_console.print(self._json_text(msg, None), soft_wrap=True)
