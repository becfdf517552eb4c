"""How ``--all`` prints: every line tagged with its target; a table when it can be one.

When every target answered with a flat object (or a plain value), the answers
line up as a table, one row per target, which is what comparing fifty VMs
needs. Anything else is the script output of each target (``plain_renderer``),
each line prefixed with the target's name. ``--json`` prints each reply and
event as QEMU sent it with a ``"target"`` member added, one JSON line each.
Server text is escaped by ``render.escape``, as for one target.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from qmpsh.fleet.fleet import Result
from qmpsh.render.escape import dump_json, escaped, is_terminal, json_safe
from qmpsh.render.plain import plain_renderer
from qmpsh.render.table import Row, flat_object, is_cell, table_lines
from qmpsh.session.outcomes import Reply


class FleetView:
    """Results of many targets on stdout, their problems on stderr."""

    def __init__(
        self,
        *,
        json_lines: bool = False,
        events: bool = False,
        pretty: bool = False,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.json_lines = json_lines
        self.events = events or json_lines
        self.pretty = pretty
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def results(self, results: Sequence[Result]) -> None:
        if self.json_lines:
            self._json(results)
        elif not self._table(results):
            for result in results:
                self._tagged(result)
        self.out.flush()

    def problem(self, text: str) -> None:
        self._line(self.err, text)

    def event(self, member: str, msg: Mapping[str, object]) -> None:
        if self.json_lines:
            self._json_line(json.dumps({"target": member, **msg}, ensure_ascii=False))
        elif self.events:
            name, data = msg.get("event", "?"), msg.get("data", {})
            self._line(self.out, f"{member}: {name} {dump_json(data)}")

    def _line(self, stream: IO[str], text: str) -> None:
        stream.write(escaped(text, terminal=is_terminal(stream)) + "\n")
        stream.flush()

    def _json_line(self, text: str) -> None:
        """A line of JSON text (``json.dumps``) on stdout, escaped as JSON."""
        self.out.write(json_safe(text, terminal=is_terminal(self.out)) + "\n")
        self.out.flush()

    def _json(self, results: Sequence[Result]) -> None:
        for result in results:
            if isinstance(result.outcome, Reply):
                self._json_line(json.dumps({"target": result.member, **result.outcome.reply}))
            else:
                self._tagged(result)

    def _tagged(self, result: Result) -> None:
        """One target's output as a script would print it, each line tagged."""
        if result.problem:
            self._line(self.err, f"{result.member}: {result.problem}")
            return
        if result.outcome is None:
            return
        out, err = io.StringIO(), io.StringIO()
        plain_renderer(pretty=self.pretty, out=out, err=err).outcome(result.outcome)
        for text, stream in ((out.getvalue(), self.out), (err.getvalue(), self.err)):
            for line in text.splitlines():
                self._line(stream, f"{result.member}: {line}")

    def _table(self, results: Sequence[Result]) -> bool:
        """Flat answers from every target as aligned columns; False if they are not flat."""
        rows: list[tuple[str, Row]] = []
        for result in results:
            reply = result.outcome
            if not isinstance(reply, Reply) or not reply.ok or reply.hmp:
                return False
            value = reply.value
            row = flat_object(value)
            if row is None and is_cell(value):
                row = {"return": value}
            if row is None:
                return False
            rows.append((result.member, row))
        if len(rows) < 2:  # one target: its line as a script prints it
            return False
        labels = ("target", [name for name, _ in rows])
        terminal = is_terminal(self.out)
        for line in table_lines([row for _, row in rows], terminal=terminal, labels=labels):
            self._line(self.out, line)
        return True
