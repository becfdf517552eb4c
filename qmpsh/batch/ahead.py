"""Which script lines may be sent before the replies ahead of them have come.

``runner``'s docstring says why sending queries ahead never changes a script's output.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from qmpsh.errors import InputError
from qmpsh.language.syntax import (
    MAX_INPUT,
    HmpLine,
    Parsed,
    QmpCall,
    RawJson,
    is_incomplete,
    parse,
)

#: Queries sent ahead at most before the first of them is answered.
WINDOW = 32


def may_go_ahead(item: Parsed | None, *, schema_known: bool) -> bool:
    """``item`` is a ``query-*`` that may be sent ahead.

    Not one whose arguments need a schema not fetched yet (``schema_known``
    False): fetching it is a question of its own, asked in step.
    """
    if isinstance(item, QmpCall):
        needs_schema = item.checked and bool(item.args)
    elif isinstance(item, RawJson) and item.message.keys() <= {"execute", "arguments"}:
        needs_schema = item.checked  # no "id" of the user's: two alike cannot both be due
    else:
        return False
    return item.command.startswith("query-") and (schema_known or not needs_schema)


def is_quit(item: Parsed | None) -> bool:
    """QMP ``quit`` or HMP ``quit`` / ``q``: QEMU closing the socket next is expected."""
    if isinstance(item, HmpLine):
        return item.command_line.split()[0] in ("quit", "q")
    return isinstance(item, (QmpCall, RawJson)) and item.command == "quit"


class ReadAhead(Protocol):
    """Script lines that can be looked at before their turn (``lines.ScriptLines``)."""

    def take(self) -> tuple[int, str] | None: ...

    def unread(self, line: tuple[int, str]) -> None: ...


def next_query(
    lines: ReadAhead, *, hmp_mode: bool, schema_known: bool
) -> tuple[int, QmpCall | RawJson] | None:
    """The next line (its number, the query) if it is already read and is a query that
    may go ahead; blank lines and comments before it are passed over, anything else
    is put back for its turn."""
    while (got := lines.take()) is not None:
        number, text = got
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue  # nothing to run, nothing to print
        item = None
        # A line over the limit is refused in its turn (``Session.parse``), never sent.
        if (
            not hmp_mode
            and len(text) <= MAX_INPUT
            and not is_incomplete(text, multiline_json=False)
        ):
            with contextlib.suppress(InputError):  # reported when the line runs, in its turn
                item = parse(text)
        if may_go_ahead(item, schema_known=schema_known):
            assert isinstance(item, (QmpCall, RawJson))
            return number, item
        lines.unread(got)
        return None
    return None
