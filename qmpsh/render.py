"""Everything qmpsh prints: results, errors, events, traffic, the banner.

``PlainRenderer`` serves scripts (compact JSON, no colour, no rich import);
``RichRenderer`` serves a terminal (highlighted JSON, styled errors, a pager for
replies taller than the screen, a spinner while waiting); ``ScriptColorRenderer``
is script output in colour (``--color=always``). Server
text is data, never markup: it is printed through ``Text`` objects, and when it
goes to a terminal its control characters are shown as escapes (``\\x1b``), so a
guest cannot drive the user's terminal through a QMP reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING

from qmpsh.helptext import CommandHelp
from qmpsh.outcomes import EventList, Exit, HelpList, Notice, Outcome, Reply, Waited
from qmpsh.protocol import ServerInfo

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

#: Changes what a spinner says while it spins.
Relabel = Callable[[str], None]

#: JSON longer than this is coloured by ``style.FastJson``, not laid out by rich's Text.
FAST_JSON = 16 * 1024

#: A wait shorter than this shows nothing; a longer one shows a spinner (``waiting``).
SPINNER_DELAY = 0.3

# C0 controls but tab and newline, DEL, C1 controls, bidi overrides (which
# reorder what the terminal shows), and lone surrogates (see _SURROGATE).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# In JSON text, C0 is already escaped by json.dumps; the rest is not.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# A JSON string may spell a lone surrogate ("\\udc80"); json.loads keeps it, and no
# UTF-8 stream can write it: one such string from a server used to end the run
# with UnicodeEncodeError (and, under --json, drop the connection).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(text: str) -> str:
    """Replace terminal control characters with printable escapes."""
    return _CONTROL.sub(_escape, text)


def encodable(text: str) -> str:
    """Text any UTF-8 stream takes: a lone surrogate becomes ``\\udXXX``, the rest is kept."""
    return _SURROGATE.sub(_escape, text)


def hmp_text(text: str) -> str:
    """HMP output as a person reads it: QEMU's ``\\r\\n`` line ends become ``\\n``."""
    return text.replace("\r", "")


def dump_json(value: object, *, indent: int | None = None, terminal: bool = False) -> str:
    """Compact (or indented) JSON; for a terminal, DEL/C1/bidi become ``\\u`` escapes."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    # As JSON escapes the value is unchanged (``--json`` stays exact); a pipe gets
    # DEL, C1 and bidi as they are, but a lone surrogate cannot be written raw anywhere.
    return (_JSON_UNSAFE if terminal else _SURROGATE).sub(_json_escape, text)


def _no_label(text: str) -> None:
    """Scripts show no spinner, so there is no label to change."""


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class PlainRenderer:
    """Script output: return values on stdout, errors on stderr, nothing else."""

    def __init__(
        self,
        *,
        pretty: bool = False,
        json_lines: bool = False,
        verbose: bool = False,
        events: bool = False,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.pretty = pretty
        self.json_lines = json_lines
        self.verbose = verbose
        self.events = events
        self._out = out
        self._err = err

    # Streams are looked up at each write: the REPL swaps sys.stdout while it runs.
    @property
    def out(self) -> IO[str]:
        return self._out or sys.stdout

    @property
    def err(self) -> IO[str]:
        return self._err or sys.stderr

    @staticmethod
    def _text(stream: IO[str], text: str) -> str:
        """``text`` as ``stream`` may take it: inert on a terminal, encodable anywhere."""
        return visible(text) if _isatty(stream) else encodable(text)

    def _write(self, stream: IO[str], text: str) -> None:
        stream.write(self._text(stream, text))
        stream.write("\n")
        stream.flush()

    def outcome(self, outcome: Outcome) -> None:
        if isinstance(outcome, Reply):
            self.reply(outcome)
        elif isinstance(outcome, HelpList):
            self.help(outcome)
        elif isinstance(outcome, CommandHelp):
            self.command_help(outcome)
        elif isinstance(outcome, Notice):
            self.notice(outcome.text)
        elif isinstance(outcome, EventList):
            for logged in outcome.events:
                self.show_event(logged.message)
        elif isinstance(outcome, Waited):
            self.waited(outcome)
        elif isinstance(outcome, Exit):
            pass

    def waited(self, outcome: Waited) -> None:
        if outcome.event is not None:
            if not self.json_lines:  # --json printed it already, when it arrived
                self.show_event(outcome.event.message)
        else:
            self.problem(f"/wait {outcome.what}: no such event within {outcome.timeout:g} s")

    def reply(self, reply: Reply) -> None:
        if not reply.ok:
            if not self.json_lines:
                cls, desc = reply.error
                self._write(self.err, f"{cls}: {desc}")
            return
        if self.json_lines:  # traffic() already printed the whole reply
            return
        if reply.hmp and isinstance(reply.value, str):
            text = hmp_text(reply.value)
            if text:
                self.out.write(self._text(self.out, text))
                self.out.flush()
            return
        self.out.write(self.json(reply.value) + "\n")
        self.out.flush()

    def json(self, value: object) -> str:
        return dump_json(value, indent=2 if self.pretty else None, terminal=_isatty(self.out))

    # Command, event and member names come from the server's schema: server text too.
    def help(self, listing: HelpList) -> None:
        lines = [*listing.builtins, *listing.commands]
        self.out.write(self._text(self.out, "".join(f"{line}\n" for line in lines)))
        self.out.flush()

    def command_help(self, tree: CommandHelp) -> None:
        rows = [tree.title, *("".join(cells).rstrip() for cells in tree_rows(tree))]
        self.out.write(self._text(self.out, "".join(f"{row}\n" for row in rows)))
        self.out.flush()

    def notice(self, text: str) -> None:
        """Scripts keep stdout for results; qmpsh's own remarks are not results."""

    def problem(self, text: str) -> None:
        """A one-line failure of qmpsh's own (bad input, lost connection)."""
        self._write(self.err, text)

    def warning(self, text: str) -> None:
        self._write(self.err, f"warning: {text}")

    def traffic(self, direction: str, msg: Mapping[str, object]) -> None:
        """Transport observer: ``--json`` prints what arrives, ``-v`` what is sent."""
        if direction == "recv" and self.json_lines:
            self.out.write(dump_json(msg, terminal=_isatty(self.out)) + "\n")
            self.out.flush()
        elif direction == "send" and self.verbose:
            self._write(self.err, dump_json(msg))

    def event(self, msg: Mapping[str, object]) -> None:
        """An event as it arrives: scripts print it only with ``--events``."""
        if self.events and not self.json_lines:  # --json printed it as traffic
            self.show_event(msg)

    def show_event(self, msg: Mapping[str, object]) -> None:
        self.out.write(dump_json(msg, terminal=_isatty(self.out)) + "\n")
        self.out.flush()

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        """Scripts have no banner."""

    def waiting(self, label: str) -> contextlib.AbstractContextManager[Relabel]:
        """Shown while qmpsh waits (for a reply, an event, a connection); scripts show nothing.

        The context gives a function that changes the label (an elapsed time).
        """
        return contextlib.nullcontext(_no_label)


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

        from qmpsh.style import rich_theme

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
        from qmpsh.style import highlight_json

        return highlight_json(dump_json(value, indent=indent, terminal=True), self.syntax_style)

    def _reply_json(self, value: object) -> RenderableType:
        """A return value, highlighted; a big one (the schema) by the fast path."""
        text = dump_json(value, indent=2 if self.pretty else None, terminal=True)
        if len(text) > FAST_JSON and self.syntax_style is None:
            from qmpsh.style import FastJson

            return FastJson(text)
        from qmpsh.style import highlight_json

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
