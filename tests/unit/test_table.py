"""Arrays of flat objects as tables: which replies make one, and how it is laid out.

One rule (``render.table``) for the prompt and for ``--all``: a table only when every
value is a scalar on one line, columns in first-seen order, server text escaped
before it is measured, and at the prompt JSON again when the table is wider than
the terminal.
"""

from __future__ import annotations

import io

import pytest

from qmpsh.render.rich_terminal import rich_renderer
from qmpsh.render.table import Row, flat_rows, table_lines
from qmpsh.session.outcomes import Reply

QOM = [
    {"name": "type", "type": "string"},
    {"name": "machine", "type": "child<none-machine>", "description": "the board"},
]


def shown(value: object, *, tables: bool = True, width: int = 80) -> str:
    out = io.StringIO()
    renderer = rich_renderer(file=out, width=width, color=False, tables=tables)
    renderer.outcome(Reply("qom-list", {"return": value}))
    return out.getvalue()


def test_columns_come_in_first_seen_order_and_a_missing_key_shows_a_dash() -> None:
    assert shown(QOM).splitlines() == [
        "name     type                 description",
        "type     string               -",
        "machine  child<none-machine>  the board",
    ]


@pytest.mark.parametrize(
    "value",
    [
        [],
        [{}],
        {"name": "x"},
        [{"name": "x", "props": {"a": 1}}],
        [{"name": "x"}, "y"],
        [{"name": "x", "list": [1]}],
        [{"name": "two\nlines"}],
        [{"name": "a\ttab"}],
    ],
    ids=["empty", "empty-object", "object", "nested", "mixed", "array", "newline", "tab"],
)
def test_anything_but_an_array_of_flat_objects_stays_json(value: object) -> None:
    assert flat_rows(value) is None
    assert shown(value).lstrip()[0] in "[{"


def test_scalars_are_json_but_strings_bare() -> None:
    rows = flat_rows([{"a": True, "b": None, "c": 1.5, "d": "true"}])
    assert rows is not None
    assert table_lines(rows, terminal=True)[1].split() == ["true", "null", "1.5", "true"]


def test_server_text_is_escaped_before_the_columns_are_measured() -> None:
    lines = shown([{"name": "a\x1b[2Jb", "type": "t"}, {"name": "c", "type": "u"}]).splitlines()
    assert lines[1] == "a\\x1b[2Jb  t"
    assert lines[2] == "c          u"
    assert "\x1b" not in "".join(lines)


def test_columns_are_measured_in_terminal_columns() -> None:
    """A wide character takes two columns, a combining accent none (as the terminal shows)."""
    lines = shown([{"name": "日本", "type": "t"}, {"name": "e\u0301t\u00e9", "type": "u"}])
    assert lines.splitlines() == ["name  type", "日本  t", "e\u0301t\u00e9   u"]


def test_a_table_of_wide_characters_wider_than_the_terminal_stays_json() -> None:
    wide = [{"name": "名" * 20, "type": "t"}]  # the header: 40 columns, 2, "type"
    assert shown(wide, width=46).startswith("name")
    assert shown(wide, width=45).lstrip().startswith("[")


def test_a_table_wider_than_the_terminal_stays_json() -> None:
    wide = [{"name": "n" * 30, "type": "t" * 30}]
    assert shown(wide, width=80).startswith("name")
    assert shown(wide, width=60).lstrip().startswith("[")


def test_without_tables_the_reply_is_json() -> None:
    assert shown(QOM, tables=False).lstrip().startswith("[")


def test_fleet_labels_come_first() -> None:
    rows: list[Row] = [{"status": "running"}, {"status": "paused", "x": 1}]
    assert table_lines(rows, terminal=False, labels=("target", ["vm1", "vm2"])) == [
        "target  status   x",
        "vm1     running  -",
        "vm2     paused   1",
    ]
