"""Flat objects as a table: which values make one, and how its lines are laid out.

``--all`` lines up the answers of many targets, and a person at the prompt gets a
reply that is an array of flat objects (``qom-list``, ``query-block-jobs``) the same
way. A table shows only what reads on one line: every value a scalar (a string
without line breaks or tabs, a number, a bool, null); anything else stays JSON.
Columns come in the order their keys are first seen; a row without a key shows
``-``. Cells are escaped (``render.escape``) before they are measured, so a control
character a server sent cannot shift the columns, and measured in terminal columns,
so a name in CJK characters does not either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TypeGuard, cast
from unicodedata import combining, east_asian_width

from qmpsh.render.escape import escaped

Scalar = str | int | float | bool | None
Row = Mapping[str, Scalar]


def is_cell(value: object) -> TypeGuard[Scalar]:
    """Whether ``value`` fits in a cell: a scalar, shown on one line."""
    if isinstance(value, str):
        return "\n" not in value and "\t" not in value
    return value is None or isinstance(value, int | float | bool)


def flat_object(value: object) -> Row | None:
    """``value`` as a row if it is an object of cells (and not empty), else None."""
    if isinstance(value, Mapping) and value and all(is_cell(v) for v in value.values()):
        return cast(Row, value)
    return None


def flat_rows(value: object) -> list[Row] | None:
    """``value`` as rows if it is a non-empty array of flat objects, else None."""
    if not isinstance(value, list) or not value:
        return None
    rows = [flat_object(item) for item in value]
    return None if any(row is None for row in rows) else cast(list[Row], rows)


def table_lines(
    rows: Sequence[Row], *, terminal: bool, labels: tuple[str, Sequence[str]] | None = None
) -> list[str]:
    """The header and one line per row, columns aligned two spaces apart.

    ``labels`` is a first column (its title, and one label a row: ``--all``'s
    targets); ``terminal`` escapes as for one (``render.escape.escaped``).
    """
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row, key) for key in columns] for row in rows]
    header = columns
    if labels is not None:
        header = [labels[0], *columns]
        cells = [[label, *line] for label, line in zip(labels[1], cells, strict=True)]
    lines = [[escaped(cell, terminal=terminal) for cell in line] for line in [header, *cells]]
    measured = [[(cell, width(cell)) for cell in line] for line in lines]
    widths = [max(line[i][1] for line in measured) for i in range(len(header))]
    return [
        "  ".join(
            cell + " " * (column - used) for (cell, used), column in zip(line, widths, strict=True)
        ).rstrip()
        for line in measured
    ]


def width(text: str) -> int:
    """The columns ``text`` takes on a terminal: two for a wide (East Asian) character,
    none for a combining one (Unicode's own tables, as wcwidth reads them; rich, which
    counts alike, is not for ``--all``'s script path). Cells come escaped: no controls."""
    if text.isascii():
        return len(text)
    return sum(0 if combining(ch) else 2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(row: Row, key: str) -> str:
    if key not in row:
        return "-"
    value = row[key]
    return value if isinstance(value, str) else json.dumps(value)
