"""The parser of one input: shorthand, raw JSON, transactions, HMP, built-ins.

Plain examples pin exact values and error columns; hypothesis properties check that
no input crashes the parser, that shorthand round-trips, and that raw JSON is kept as written.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmpsh.errors import InputError
from qmpsh.language.builtin_registry import BUILTINS
from qmpsh.language.syntax import (
    MAX_NESTING,
    Arg,
    Builtin,
    HmpLine,
    OpenInput,
    QmpCall,
    RawJson,
    Transaction,
    bare_value,
    build_arguments,
    is_incomplete,
    parse,
)
from tests.support.fuzzcount import scaled

PARSED_TYPES = (QmpCall, RawJson, Transaction, HmpLine, Builtin)


def call(text: str) -> QmpCall:
    parsed = parse(text)
    assert isinstance(parsed, QmpCall), parsed
    return parsed


def transaction(text: str) -> Transaction:
    parsed = parse(text)
    assert isinstance(parsed, Transaction), parsed
    return parsed


def json_says(text: str) -> tuple[int, str]:
    """Where Python's json module places its complaint about ``text``, and its words:
    qmpsh passes both on, and they change between Python versions (a trailing comma,
    since 3.13)."""
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads(text)
    return info.value.pos, info.value.msg


def error(text: str, *, hmp_mode: bool = False) -> InputError:
    with pytest.raises(InputError) as info:
        parse(text, hmp_mode=hmp_mode)
    return info.value


def same_json(got: object, expected: object) -> bool:
    """Equal, and of the same JSON types all the way down (1 == 1.0 == True in Python)."""
    if type(got) is not type(expected):
        return False
    if isinstance(got, dict):
        assert isinstance(expected, dict)
        return got.keys() == expected.keys() and all(same_json(got[k], expected[k]) for k in got)
    if isinstance(got, list):
        assert isinstance(expected, list)
        return len(got) == len(expected) and all(map(same_json, got, expected))
    return got == expected


def dq(value: str) -> str:
    """``value`` as a double-quoted shorthand value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- shorthand


def test_command_without_arguments() -> None:
    parsed = parse("query-status")
    assert parsed == QmpCall("query-status", (), 0)
    assert isinstance(parsed, QmpCall)
    assert parsed.arguments == {}
    assert parsed.message() == {"execute": "query-status"}


def test_surrounding_whitespace_is_ignored_and_column_kept() -> None:
    assert parse("  \tquery-status \r\n") == QmpCall("query-status", (), 3)


def test_key_value_pairs() -> None:
    parsed = call("qom-get path=/machine property=type")
    assert parsed.command == "qom-get"
    assert parsed.args == (
        Arg(("path",), "/machine", "/machine", False, 8),
        Arg(("property",), "type", "type", False, 22),
    )
    assert parsed.message() == {
        "execute": "qom-get",
        "arguments": {"path": "/machine", "property": "type"},
    }


def test_tabs_and_repeated_spaces_separate_arguments() -> None:
    assert call("x\ta=1   b=2\t\tc=3").arguments == {"a": 1, "b": 2, "c": 3}


def test_each_dotted_key_nests_on_its_own() -> None:
    parsed = call(
        "blockdev-add driver=qcow2 node-name=n1 file.driver=file file.filename=/img.qcow2"
    )
    assert parsed.message() == {
        "execute": "blockdev-add",
        "arguments": {
            "driver": "qcow2",
            "node-name": "n1",
            "file": {"driver": "file", "filename": "/img.qcow2"},
        },
    }
    assert [a.path for a in parsed.args] == [
        ("driver",),
        ("node-name",),
        ("file", "driver"),
        ("file", "filename"),
    ]
    assert [a.key for a in parsed.args] == ["driver", "node-name", "file.driver", "file.filename"]


def test_file_driver_example_from_the_brief() -> None:
    assert call("x file.driver=file file.filename=/x").arguments == {
        "file": {"driver": "file", "filename": "/x"}
    }


def test_deep_nesting() -> None:
    assert call("x a.b.c.d.e.f=1").arguments == {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}


def test_siblings_at_several_depths_and_interleaved() -> None:
    parsed = call("x a.b.c=1 top=t a.b.d=2 a.e=3 f.g=4 a.b.h.i=5 a.j.k=6 f.l=7")
    assert parsed.arguments == {
        "a": {"b": {"c": 1, "d": 2, "h": {"i": 5}}, "e": 3, "j": {"k": 6}},
        "top": "t",
        "f": {"g": 4, "l": 7},
    }
    # insertion order follows first mention
    assert list(parsed.arguments) == ["a", "top", "f"]
    inner = parsed.arguments["a"]
    assert isinstance(inner, dict)
    assert list(inner) == ["b", "e", "j"]


def test_arguments_are_rebuilt_fresh_each_time() -> None:
    parsed = call("x a.b=1")
    first = parsed.arguments
    first["a"] = "changed"
    assert parsed.arguments == {"a": {"b": 1}}


def test_build_arguments_directly() -> None:
    args = [Arg(("a", "b"), 1, "1", False, 0), Arg(("a", "c"), "x", '"x"', True, 6)]
    assert build_arguments(args) == {"a": {"b": 1, "c": "x"}}
    assert build_arguments([]) == {}


@pytest.mark.parametrize(
    ("text", "value", "raw"),
    [
        ('x k="info version"', "info version", '"info version"'),
        ("x k='info version'", "info version", "'info version'"),
        ('x k=""', "", '""'),
        ("x k=''", "", "''"),
        ('x k="  padded  "', "  padded  ", '"  padded  "'),
        ('x k="123"', "123", '"123"'),
        ("x k='true'", "true", "'true'"),
        ('x k="null"', "null", '"null"'),
        ('x k="[1, 2]"', "[1, 2]", '"[1, 2]"'),
        ('x k="a=b {c} #d ;e"', "a=b {c} #d ;e", '"a=b {c} #d ;e"'),
        ("x k='say \"hi\"'", 'say "hi"', "'say \"hi\"'"),
        ('x k="it\'s"', "it's", '"it\'s"'),
        ('x k="say \\"hi\\""', 'say "hi"', '"say \\"hi\\""'),
        ('x k="a\\\\b"', "a\\b", '"a\\\\b"'),
        ('x k="ends with \\\\"', "ends with \\", '"ends with \\\\"'),
        # any other backslash is literal, even inside double quotes
        ('x k="C:\\dir\\file"', "C:\\dir\\file", '"C:\\dir\\file"'),
        ('x k="a\\nb"', "a\\nb", '"a\\nb"'),
        # no escapes at all inside single quotes
        ("x k='C:\\dir\\'", "C:\\dir\\", "'C:\\dir\\'"),
        ("x k='a\\\\b'", "a\\\\b", "'a\\\\b'"),
        # a real newline inside quotes is part of the value
        ('x k="line1\nline2"', "line1\nline2", '"line1\nline2"'),
    ],
)
def test_quoted_values_are_strings_without_their_quotes(text: str, value: str, raw: str) -> None:
    parsed = call(text)
    assert parsed.args == (Arg(("k",), value, raw, True, 2),)
    assert parsed.arguments == {"k": value}


def test_quoted_values_followed_by_more_arguments() -> None:
    parsed = call("human-monitor-command command-line=\"info version\" b='x y' c=1")
    assert parsed.arguments == {"command-line": "info version", "b": "x y", "c": 1}
    assert [a.quoted for a in parsed.args] == [True, True, False]
    assert [a.column for a in parsed.args] == [22, 50, 58]


def test_backslashes_in_bare_values_are_literal() -> None:
    parsed = call('x path=C:\\dir\\file q=a\\"b')
    assert parsed.arguments == {"path": "C:\\dir\\file", "q": 'a\\"b'}
    assert parsed.args[0].raw == "C:\\dir\\file"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", 1),
        ("0", 0),
        ("-5", -5),
        ("-0", 0),
        ("123456789012345678901234567890", 123456789012345678901234567890),
        ("1.5", 1.5),
        ("-2.25", -2.25),
        ("0.0", 0.0),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2.5e-2", 0.025),
        ("-1.5E+2", -150.0),
        ("true", True),
        ("false", False),
        ("null", None),
        # not JSON: strings
        ("007", "007"),
        ("01", "01"),
        ("1.2.3", "1.2.3"),
        ("abc", "abc"),
        ("", ""),
        ("+1", "+1"),
        (".5", ".5"),
        ("1.", "1."),
        ("1e", "1e"),
        ("-", "-"),
        ("0x10", "0x10"),
        ("1_000", "1_000"),
        ("True", "True"),
        ("NULL", "NULL"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("/dev/null", "/dev/null"),
        ("on", "on"),
        ("\u0661", "\u0661"),  # ARABIC-INDIC DIGIT ONE is no JSON number
        ("1\u0660", "1\u0660"),
        # numbers Python cannot send back as JSON stay strings
        ("1e400", "1e400"),
        ("-1e400", "-1e400"),
        ("9" * 5000, "9" * 5000),
    ],
)
def test_bare_values_are_typed_as_json_else_strings(raw: str, value: object) -> None:
    assert same_json(bare_value(raw), value)
    parsed = call(f"x k={raw}")
    assert parsed.args == (Arg(("k",), value, raw, False, 2),)
    assert same_json(parsed.arguments["k"], value)


def test_bare_float_and_int_types() -> None:
    assert type(call("x k=1").arguments["k"]) is int
    assert type(call("x k=1.0").arguments["k"]) is float
    assert type(call("x k=1e2").arguments["k"]) is float
    assert type(call("x k=true").arguments["k"]) is bool
    negative_zero = call("x k=-0.0").arguments["k"]
    assert isinstance(negative_zero, float)
    assert math.copysign(1.0, negative_zero) == -1.0


def test_raw_text_is_kept_for_schema_retyping() -> None:
    parsed = call("device_add driver=virtio-net-pci id=123 addr=0x3 bus=pci.0 on=true")
    assert [(a.key, a.value, a.raw, a.quoted) for a in parsed.args] == [
        ("driver", "virtio-net-pci", "virtio-net-pci", False),
        ("id", 123, "123", False),
        ("addr", "0x3", "0x3", False),
        ("bus", "pci.0", "pci.0", False),
        ("on", True, "true", False),
    ]
    assert [a.column for a in parsed.args] == [11, 33, 40, 49, 59]


def test_equals_sign_inside_a_bare_value() -> None:
    parsed = call("x k=a=b opt==")
    assert parsed.arguments == {"k": "a=b", "opt": "="}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x a=[1,2]", [1, 2]),
        ("x a=[]", []),
        ("x a={}", {}),
        ('x a={"a":1}', {"a": 1}),
        ('x a={"a": 1, "b": [true, null, "s p"]}', {"a": 1, "b": [True, None, "s p"]}),
        ('x a=[ 1 , { "k" : [ ] } ]', [1, {"k": []}]),
        ('x a=["]", "}", "[{"]', ["]", "}", "[{"]),
        ('x a={"q": "\\"}"}', {"q": '"}'}),
        ('x a={"q": "\\\\"}', {"q": "\\"}),
        ("x a=[1.5, -2, 1e2]", [1.5, -2, 100.0]),
        ('x a={"nested": {"deep": {"x": [[[]]]}}}', {"nested": {"deep": {"x": [[[]]]}}}),
    ],
)
def test_json_values(text: str, value: object) -> None:
    parsed = call(text)
    (arg,) = parsed.args
    assert same_json(arg.value, value)
    assert arg.raw == text[4:]
    assert arg.quoted is False
    assert arg.column == 2


def test_json_values_with_spaces_followed_by_more_arguments() -> None:
    parsed = call('x a={"k": [1, 2], "m": "x y"} b=[ 3 ] c.d=4')
    assert parsed.arguments == {"a": {"k": [1, 2], "m": "x y"}, "b": [3], "c": {"d": 4}}
    assert [a.raw for a in parsed.args] == ['{"k": [1, 2], "m": "x y"}', "[ 3 ]", "4"]


def test_a_closing_bracket_alone_is_a_bare_string() -> None:
    assert call("x a=] b=}").arguments == {"a": "]", "b": "}"}


def test_a_command_name_may_contain_odd_characters() -> None:
    assert call("x-y_z.1:2").command == "x-y_z.1:2"
    assert call("transaction").command == "transaction"
    assert call("transaction actions=[]").arguments == {"actions": []}


# --------------------------------------------------------------------------- shorthand errors


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("a=1", 0, "a line starts with a command name, not key=value"),
        ("  a.b=1 c=2", 2, "a line starts with a command name, not key=value"),
        ("=1", 0, "a line starts with a command name, not key=value"),
        ('"foo"', 0, "expected a command name, found '\"'"),
        ("'foo' a=1", 0, 'expected a command name, found "\'"'),
        ("[1]", 0, "expected a command name, found '['"),
        ('x k="abc', 4, "unterminated \" in value of 'k'"),
        ("x k='abc", 4, "unterminated ' in value of 'k'"),
        ('x a=1 k="abc\\"', 8, "unterminated \" in value of 'k'"),
        ('x k="C:\\dir\\"', 4, "unterminated \" in value of 'k'"),
        ('x k="abc"def', 9, 'unexpected text after closing "'),
        ("x k='a'b=1", 7, "unexpected text after closing '"),
        ('x k=""""', 6, 'unexpected text after closing "'),
        ("x a..b=1", 2, "bad key 'a..b': empty name between dots"),
        ("x ok=1 .a=1", 7, "bad key '.a': empty name between dots"),
        ("x a.=1", 2, "bad key 'a.': empty name between dots"),
        ("x =1", 2, "missing key before '='"),
        ("x a=1 a=2", 6, "duplicate argument 'a'"),
        ("x a=1 b=2 a='1'", 10, "duplicate argument 'a'"),
        ("x a.b=1 a.b=2", 8, "duplicate argument 'a.b'"),
        ("x a=1 a.b=2", 6, "'a.b': 'a' already has a value"),
        ("x a.b=1 a=2", 8, "duplicate argument 'a'"),
        ("x a.b=1 a.b.c=2", 8, "'a.b.c': 'a.b' already has a value"),
        ("x a={} a.b=1", 7, "'a.b': 'a' already has a value"),
        ('x a={"b":1} a.c=1', 12, "'a.c': 'a' already has a value"),
        ("x a=null a.b=1", 9, "'a.b': 'a' already has a value"),
        ("x foo", 2, "expected key=value, found 'foo'"),
        ("x a=1 foo b=2", 6, "expected key=value, found 'foo'"),
        ('x "foo"', 2, "expected key=value, found '\"foo\"'"),
        ("x # a comment", 2, "expected key=value, found '#'"),
        (
            "x a=[1,]",
            4 + json_says("[1,]")[0],
            "invalid JSON in value of 'a': " + json_says("[1,]")[1],
        ),
        ('x a={"a" 1}', 9, "invalid JSON in value of 'a': Expecting ':' delimiter"),
        ("x a={'a': 1}", 5, "invalid JSON in value of 'a': Expecting property name enclosed in"),
        ("x a=[NaN]", 4, "invalid JSON in value of 'a': NaN is not valid JSON"),
        ("x a=[Infinity]", 4, "invalid JSON in value of 'a': Infinity is not valid JSON"),
        ("x a=[1e400]", 4, "invalid JSON in value of 'a': 1e400 is out of range"),
        ("x a=[1,2", 4, "unbalanced '['"),
        ('x a={"a": [1}', 4, "unbalanced '{'"),
        ('x a={"a": "}', 4, "unbalanced '{'"),
        ("x a=[1]]", 7, "unexpected text after closing ']'"),
        ("x a=[1]b=2", 7, "unexpected text after closing ']'"),
        ('x a={"k": "}"}x', 14, "unexpected text after closing '}'"),
        ("x a=[1]'s'", 7, "unexpected text after closing ']'"),
    ],
)
def test_shorthand_errors_point_at_the_culprit(text: str, column: int, message: str) -> None:
    err = error(text)
    assert err.column == column
    assert err.message.startswith(message), err.message
    assert str(err) == f"{err.message} (column {column + 1})"


def test_nul_byte_is_rejected_where_it_is() -> None:
    err = error("x a=b\x00c")
    assert (err.message, err.column) == ("input contains a NUL byte", 5)
    assert error("\x00").column == 0
    assert error("  query-status\x00").column == 14


@pytest.mark.parametrize("raw", [b"x a=\xff", b"x a=caf\xe9", b"x a=\xed\xa0\x80", b"x \x80=1"])
def test_undecodable_bytes_are_rejected(raw: bytes) -> None:
    text = raw.decode("utf-8", "surrogateescape")
    column = next(i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff")
    err = error(text)
    assert (err.message, err.column) == ("input contains bytes that are not UTF-8", column)


def test_lone_surrogates_are_rejected_everywhere() -> None:
    assert error('{"execute": "\udc80"}').column == 13
    assert error("/hmp info \udcff").column == 10
    assert error("info \udcff", hmp_mode=True).column == 5
    assert error("transaction(\n a x=\ud800\n)").column == 18


def test_json_escapes_for_surrogates_are_not_raw_surrogates() -> None:
    parsed = parse('{"execute": "x", "arguments": {"s": "\\udc80"}}')
    assert parsed == RawJson({"execute": "x", "arguments": {"s": "\udc80"}})


# --------------------------------------------------------------------------- raw JSON


def test_raw_json_object() -> None:
    text = '{"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}'
    parsed = parse(text)
    assert parsed == RawJson(
        {"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}
    )
    assert isinstance(parsed, RawJson)
    assert parsed.command == "qom-get"


def test_raw_json_keeps_a_string_id_and_extra_members() -> None:
    parsed = parse('{"execute": "query-status", "id": "mine", "control": {"x": 1}}')
    assert parsed == RawJson({"execute": "query-status", "id": "mine", "control": {"x": 1}})


def test_raw_json_exec_oob() -> None:
    parsed = parse('{"exec-oob": "migrate-pause", "id": "oob1"}')
    assert isinstance(parsed, RawJson)
    assert parsed.message == {"exec-oob": "migrate-pause", "id": "oob1"}
    assert parsed.command == "migrate-pause"


def test_raw_json_may_span_lines_and_be_indented() -> None:
    text = '\n  {\n    "execute": "query-status",\n    "arguments": {}\n  }\n'
    assert parse(text) == RawJson({"execute": "query-status", "arguments": {}})


def test_raw_json_command_is_empty_without_a_name() -> None:
    assert RawJson({}).command == ""
    assert RawJson({"execute": 1}).command == ""


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ('{"arguments": {}}', 0, 'raw JSON needs "execute": "<command>"'),
        ("{}", 0, 'raw JSON needs "execute": "<command>"'),
        ('  {"execute": 1}', 2, 'raw JSON needs "execute": "<command>"'),
        ('{"execute": ["x"]}', 0, 'raw JSON needs "execute": "<command>"'),
        ('{"exec-oob": null}', 0, 'raw JSON needs "execute": "<command>"'),
        ('{"execute": "x", "id": 1}', 0, 'raw JSON "id" must be a string'),
        ('{"execute": "x", "id": null}', 0, 'raw JSON "id" must be a string'),
        ('{"execute": "x", "id": {"a": 1}}', 0, 'raw JSON "id" must be a string'),
        ('{"execute": "x", "arguments": {"a": NaN}}', 0, "invalid JSON: NaN is not valid JSON"),
        ('{"execute": "x", "a": Infinity}', 0, "invalid JSON: Infinity is not valid JSON"),
        ('{"execute": "x", "a": -Infinity}', 0, "invalid JSON: -Infinity is not valid JSON"),
        ('{"execute": "x", "a": 1e400}', 0, "invalid JSON: 1e400 is out of range"),
        (' {"execute": "x", "a": [-1E999]}', 1, "invalid JSON: -1E999 is out of range"),
        (
            '{"execute": "x",}',
            0 + json_says('{"execute": "x",}')[0],
            "invalid JSON: " + json_says('{"execute": "x",}')[1],
        ),
        (
            '   {"execute": "x",}',
            3 + json_says('{"execute": "x",}')[0],
            "invalid JSON: " + json_says('{"execute": "x",}')[1],
        ),
        ('{"execute": "x"} extra', 17, "invalid JSON: Extra data"),
        ('{"execute": "x"', 15, "invalid JSON: Expecting ',' delimiter"),
        ("{'execute': 'x'}", 1, "invalid JSON: Expecting property name enclosed in double"),
        ('{"execute": "x", "a": 01}', 23, "invalid JSON: Expecting ',' delimiter"),
        ('{\n"execute": "x",\n"a": tru}', 23, "invalid JSON: Expecting value"),
        ('{"a": 1' + "0" * 5000 + "}", 0, "invalid JSON: Exceeds the limit"),
    ],
)
def test_raw_json_errors(text: str, column: int, message: str) -> None:
    err = error(text)
    assert err.column == column
    assert err.message.startswith(message), err.message


def test_deeply_nested_raw_json_is_a_clean_error() -> None:
    depth = 10_000
    text = '{"execute": "x", "arguments": {"a": ' + "[" * depth + "]" * depth + "}}"
    err = error(text)
    assert (err.message, err.column) == ("invalid JSON: nested too deeply", 0)
    err = error("{" * depth + "}" * depth)
    assert err.column == 1
    assert err.message == "invalid JSON: Expecting property name enclosed in double quotes"


def test_deeply_nested_shorthand_json_is_a_clean_error() -> None:
    depth = 10_000
    too_deep = "invalid JSON in value of 'a': nested too deeply"
    err = error("x a=" + "[" * depth + "]" * depth)
    assert (err.message, err.column) == (too_deep, 4)
    err = error("transaction( t a=" + '{"a":' * depth + "1" + "}" * depth + " )")
    assert (err.message, err.column) == (too_deep, 17)


def test_nesting_limit_is_qmpshs_own_whatever_the_python() -> None:
    """MAX_NESTING levels are taken and one more is refused, on every Python (whose json
    alone goes to different depths); brackets inside strings do not nest."""
    inner = MAX_NESTING - 2  # under {"execute": ..., "arguments": {"a": ...}}
    text = '{"execute": "x", "arguments": {"a": ' + "[" * inner + "]" * inner + "}}"
    assert isinstance(parse(text), RawJson)
    err = error(text.replace("[", "[[", 1).replace("]", "]]", 1))
    assert (err.message, err.column) == ("invalid JSON: nested too deeply", 0)
    assert isinstance(parse("x a=" + "[" * MAX_NESTING + "]" * MAX_NESTING), QmpCall)
    err = error("x a=" + '{"k":' * (MAX_NESTING + 1) + "1" + "}" * (MAX_NESTING + 1))
    assert (err.message, err.column) == ("invalid JSON in value of 'a': nested too deeply", 4)
    in_a_string = "[{" * 1000 + '\\"]}'
    call = parse("x a=" + json.dumps([in_a_string]))
    assert isinstance(call, QmpCall) and call.args[0].value == [in_a_string]


def test_deep_but_reasonable_nesting_is_fine() -> None:
    depth = 200
    text = '{"execute": "x", "arguments": {"a": ' + "[" * depth + "]" * depth + "}}"
    nested: list[object] = []
    for _ in range(depth - 1):
        nested = [nested]
    assert parse(text) == RawJson({"execute": "x", "arguments": {"a": nested}})


# --------------------------------------------------------------------------- transaction


def test_transaction_one_action_per_line() -> None:
    text = (
        "transaction(\n"
        " blockdev-snapshot-sync device=ide0 snapshot-file=/tmp/a.qcow2 format=qcow2\n"
        " abort\n"
        " block-dirty-bitmap-add node=n1 name=b0 persistent=true\n"
        ")"
    )
    parsed = transaction(text)
    assert [a.command for a in parsed.actions] == [
        "blockdev-snapshot-sync",
        "abort",
        "block-dirty-bitmap-add",
    ]
    assert [a.column for a in parsed.actions] == [14, 90, 97]
    assert parsed.command == "transaction"
    assert parsed.message() == {
        "execute": "transaction",
        "arguments": {
            "actions": [
                {
                    "type": "blockdev-snapshot-sync",
                    "data": {
                        "device": "ide0",
                        "snapshot-file": "/tmp/a.qcow2",
                        "format": "qcow2",
                    },
                },
                {"type": "abort", "data": {}},
                {
                    "type": "block-dirty-bitmap-add",
                    "data": {"node": "n1", "name": "b0", "persistent": True},
                },
            ]
        },
    }


def test_transaction_brief_example() -> None:
    parsed = transaction("transaction(\n a x=1\n b y=2\n)")
    assert parsed.actions == (
        QmpCall("a", (Arg(("x",), 1, "1", False, 16),), 14),
        QmpCall("b", (Arg(("y",), 2, "2", False, 23),), 21),
    )
    assert parsed.message() == {
        "execute": "transaction",
        "arguments": {
            "actions": [{"type": "a", "data": {"x": 1}}, {"type": "b", "data": {"y": 2}}]
        },
    }


@pytest.mark.parametrize(
    "text",
    [
        "transaction( a x=1; b y.z=2 )",
        "transaction(a x=1;b y.z=2)",
        "transaction (a x=1 ; b y.z=2 ;)",
        "  transaction(\n a x=1;\n\n;; b y.z=2\n)  \n",
        "transaction(\r\n a x=1\r\n b y.z=2\r\n)",
        "transaction(\n\ta x=1\n\tb\ty.z=2\n\t)",
    ],
)
def test_transaction_layouts(text: str) -> None:
    assert transaction(text).message() == {
        "execute": "transaction",
        "arguments": {
            "actions": [
                {"type": "a", "data": {"x": 1}},
                {"type": "b", "data": {"y": {"z": 2}}},
            ]
        },
    }


@pytest.mark.parametrize(
    "text", ["transaction( )", "transaction()", "transaction(\n)", "transaction(;)"]
)
def test_empty_transaction(text: str) -> None:
    parsed = transaction(text)
    assert parsed.actions == ()
    assert parsed.message() == {"execute": "transaction", "arguments": {"actions": []}}


def test_quoted_separators_do_not_split_actions() -> None:
    parsed = transaction('transaction( a x="1;2"; b y=\'3;4\' z="p)" ; c w=[";"] )')
    assert [(a.command, a.arguments) for a in parsed.actions] == [
        ("a", {"x": "1;2"}),
        ("b", {"y": "3;4", "z": "p)"}),
        ("c", {"w": [";"]}),
    ]


def test_quoted_newline_inside_a_transaction_does_not_split() -> None:
    parsed = transaction('transaction(\n a x="l1\nl2" y=2\n b\n)')
    assert [(a.command, a.arguments) for a in parsed.actions] == [
        ("a", {"x": "l1\nl2", "y": 2}),
        ("b", {}),
    ]


def test_json_values_inside_a_transaction() -> None:
    parsed = transaction('transaction( a x={"k": [1, 2]}; b y=[3])')
    assert [(a.command, a.arguments) for a in parsed.actions] == [
        ("a", {"x": {"k": [1, 2]}}),
        ("b", {"y": [3]}),
    ]


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("transaction(", 0, "transaction( is missing its closing ')'"),
        ("transaction(\n a x=1\n b y=2", 0, "transaction( is missing its closing ')'"),
        ("  transaction( a", 2, "transaction( is missing its closing ')'"),
        ("transaction( a ) extra", 0, "transaction( is missing its closing ')'"),
        ("transaction( x=1 )", 13, "a line starts with a command name, not key=value"),
        ("transaction(\n a x=1\n b y\n)", 23, "expected key=value, found 'y'"),
        ("transaction(\n a x=1 x=2\n)", 20, "duplicate argument 'x'"),
        ("transaction( a x=1; b y=1 y.z=2 )", 26, "'y.z': 'y' already has a value"),
        ('transaction( a x="1; b )', 17, "unterminated \" in value of 'x'"),
        ("transaction( a x=[1; b )", 17, "unbalanced '['"),
        ("transaction( a x='1'2 )", 20, "unexpected text after closing '"),
        ('transaction( {"a": 1} )', 13, "expected a command name, found '{'"),
    ],
)
def test_transaction_errors(text: str, column: int, message: str) -> None:
    err = error(text)
    assert err.column == column
    assert err.message == message


# --------------------------------------------------------------------------- HMP and built-ins


def test_hmp_line() -> None:
    parsed = parse("/hmp info block")
    assert parsed == HmpLine("info block")
    assert isinstance(parsed, HmpLine)
    assert parsed.message() == {
        "execute": "human-monitor-command",
        "arguments": {"command-line": "info block"},
    }


def test_hmp_line_keeps_inner_spacing_and_quotes() -> None:
    assert parse("  /hmp   info  qtree  ") == HmpLine("info  qtree")
    assert parse('/hmp device_add x,id="a b"') == HmpLine('device_add x,id="a b"')
    assert parse("/hmp {not json") == HmpLine("{not json")


@pytest.mark.parametrize("text", ["/hmp", "/hmp   ", "  /hmp"])
def test_hmp_alone_switches_mode(text: str) -> None:
    assert parse(text) == Builtin("hmp", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("info block", HmpLine("info block")),
        ("  info  block \n", HmpLine("info  block")),
        ("a=1", HmpLine("a=1")),
        ('{"execute": "x"}', HmpLine('{"execute": "x"}')),
        ("transaction( a )", HmpLine("transaction( a )")),
        ("quit", HmpLine("quit")),
        ("/hmp info x", HmpLine("info x")),
        ("/hmp", Builtin("hmp", "")),
        ("/qmp", Builtin("qmp", "")),
        ("  /qmp  ", Builtin("qmp", "")),
        ("/help info", Builtin("help", "info")),
        ("/exit", Builtin("exit", "")),
        ("# info block", None),
        ("", None),
        ("  \n", None),
    ],
)
def test_hmp_mode(text: str, expected: object) -> None:
    assert parse(text, hmp_mode=True) == expected


def test_hmp_mode_still_rejects_unknown_builtins_and_nul() -> None:
    err = error("/nope", hmp_mode=True)
    assert (err.message, err.column) == ("unknown built-in '/nope' (try /help)", 0)
    err = error("info \x00", hmp_mode=True)
    assert (err.message, err.column) == ("input contains a NUL byte", 5)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_parses(name: str) -> None:
    if name == "hmp":
        assert parse(f"/{name} x  y ") == HmpLine("x  y")
    else:
        assert parse(f"/{name} x  y ") == Builtin(name, "x  y")
    assert parse(f"/{name}") == Builtin(name, "")


def test_builtins() -> None:
    assert parse("/help") == Builtin("help", "")
    assert parse("/help query-status") == Builtin("help", "query-status")
    assert parse("  /help   blockdev-add  ") == Builtin("help", "blockdev-add")
    assert parse("/qmp") == Builtin("qmp", "")
    assert parse("/exit") == Builtin("exit", "")


@pytest.mark.parametrize(
    ("text", "column", "name"),
    [
        ("/nope", 0, "nope"),
        ("  /nope arg", 2, "nope"),
        ("/", 0, ""),
        ("/HELP", 0, "HELP"),
        ("//help", 0, "/help"),
        ("/quit", 0, "quit"),
    ],
)
def test_unknown_builtin(text: str, column: int, name: str) -> None:
    err = error(text)
    assert (err.message, err.column) == (f"unknown built-in '/{name}' (try /help)", column)


@pytest.mark.parametrize(
    "text", ["", " ", "\t\r\n", "\n\n\n", "#", "# comment", "   # x=1", "\t#{", "#\x00"]
)
def test_blank_lines_and_comments_are_nothing(text: str) -> None:
    assert parse(text) is None
    assert parse(text, hmp_mode=True) is None


# --------------------------------------------------------------------------- is_incomplete


@pytest.mark.parametrize(
    ("text", "incomplete"),
    [
        ("{", True),
        ("  {\n", True),
        ('{"execute": "x"', True),
        ('{"execute": "x", "arguments": {', True),
        ('{"execute": "x", "arguments": {"a": [1,', True),
        ('{"execute": "x"}', False),
        ('{"execute": "x", "arguments": {"a": "}}]]"}', True),
        ('{"execute": "x", "arguments": {"a": "}}]]"}}', False),
        ('{"execute": "x", "arguments": {"a": "{{[["}}', False),
        ('{"a": "\\"}"', True),
        ('{"a": "\\\\"}', False),
        ('{"a": "\\\\\\"}"}', False),
        ("{}}", False),
        ("{\n}", False),
        ("transaction(", True),
        ("  transaction (", True),
        ("transaction(\n a x=1", True),
        ("transaction(\n a x=1\n b y=2", True),
        ("transaction(\n a x=1\n)", False),
        ("transaction(\n a x=1\n)\n", False),
        ("transaction( a x=1; b )", False),
        ("transaction()", False),
        ("query-status", False),
        ("x a={", False),
        ("x a=[1,", False),
        ("/hmp {", False),
        ("# {", False),
        ("transaction", False),
        ("", False),
        ("   ", False),
    ],
)
def test_is_incomplete(text: str, incomplete: bool) -> None:
    assert is_incomplete(text) is incomplete


@pytest.mark.parametrize("text", ["{", '{"execute": "x"', '{"a": {"b": [', "{\n"])
def test_is_incomplete_without_multiline_json(text: str) -> None:
    assert is_incomplete(text) is True
    assert is_incomplete(text, multiline_json=False) is False


def test_transaction_is_incomplete_even_without_multiline_json() -> None:
    assert is_incomplete("transaction(\n a x=1", multiline_json=False) is True
    assert is_incomplete("transaction(\n a x=1\n)", multiline_json=False) is False


def test_incomplete_then_complete_json_parses() -> None:
    lines = ["{", '  "execute": "qom-list",', '  "arguments": {"path": "/"}', "}"]
    for n in range(1, len(lines)):
        assert is_incomplete("\n".join(lines[:n])) is True
    text = "\n".join(lines)
    assert is_incomplete(text) is False
    assert parse(text) == RawJson({"execute": "qom-list", "arguments": {"path": "/"}})


# --------------------------------------------------------------------------- properties

SPECIAL = list(" \t\r\n\"'\\{}[]=./#;(),:-0123456789eE\x00\x0b\x0c\x1b\x7f\x85\xa0\u2028\udc80")
FRAGMENTS = [
    "x",
    "a",
    "b.c",
    "transaction(",
    "transaction",
    "/hmp",
    "/help",
    "/",
    "{",
    '"execute"',
    '"x"',
    "true",
    "null",
    "NaN",
    "1e400",
    "-1",
    "007",
]
ANY_TEXT = st.text(alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters()), max_size=80)
TOKEN_TEXT = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.sampled_from(FRAGMENTS)), max_size=30
).map("".join)
SOME_TEXT = st.one_of(
    ANY_TEXT, TOKEN_TEXT, st.tuples(st.sampled_from(FRAGMENTS), ANY_TEXT).map("".join)
)


def check_parse(text: str, hmp_mode: bool) -> None:
    """parse() returns something sendable or raises InputError with a column inside the text."""
    try:
        parsed = parse(text, hmp_mode=hmp_mode)
    except InputError as err:
        assert err.column is not None
        assert 0 <= err.column <= len(text), (err.column, len(text))
        assert err.message
        return
    is_incomplete(text)
    is_incomplete(text, multiline_json=False)
    if parsed is None:
        assert not text.strip() or text.strip().startswith("#")
        return
    assert isinstance(parsed, PARSED_TYPES)
    if isinstance(parsed, Builtin):
        assert parsed.name in BUILTINS
        return
    message = parsed.message if isinstance(parsed, RawJson) else parsed.message()
    assert isinstance(message, dict)
    # whatever parses can go out as strict JSON
    json.dumps(message, allow_nan=False)


@settings(max_examples=scaled(2500), deadline=None)
@given(text=SOME_TEXT, hmp_mode=st.booleans())
def test_parse_never_crashes(text: str, hmp_mode: bool) -> None:
    check_parse(text, hmp_mode)


@settings(max_examples=scaled(1500), deadline=None)
@given(
    text=st.lists(
        st.sampled_from(
            ["x", " ", "a", "=", ".", '"', "'", "\\", "[", "]", "{", "}", ";", "\n", "1", ":", ","]
        ),
        min_size=1,
        max_size=25,
    ).map("".join),
    prefix=st.sampled_from(["", "cmd ", "transaction( ", "  ", "{"]),
)
def test_error_columns_are_inside_the_text(text: str, prefix: str) -> None:
    full = prefix + text
    try:
        parse(full)
    except InputError as err:
        assert err.column is not None
        assert 0 <= err.column <= len(full), (err.column, len(full))


COMMAND = st.from_regex(r"[a-z][a-z0-9_-]{0,24}", fullmatch=True)
KEY = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00 \t\r\n=."),
    min_size=1,
    max_size=12,
)
VALUE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" \"'\\=.;#{}[]\t\n")),
        st.characters(codec="utf-8", exclude_characters="\x00"),
    ),
    max_size=30,
)


@settings(max_examples=scaled(800), deadline=None)
@given(command=COMMAND, values=st.dictionaries(KEY, VALUE_TEXT, max_size=6))
def test_double_quoted_values_round_trip(command: str, values: dict[str, str]) -> None:
    text = " ".join([command, *(f"{k}={dq(v)}" for k, v in values.items())])
    parsed = call(text)
    assert parsed.command == command
    assert parsed.arguments == values
    assert [a.raw for a in parsed.args] == [dq(v) for v in values.values()]
    assert all(a.quoted for a in parsed.args)
    expected = {"execute": command, "arguments": values} if values else {"execute": command}
    assert parsed.message() == expected


@settings(max_examples=scaled(400), deadline=None)
@given(
    command=COMMAND,
    values=st.dictionaries(
        KEY,
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters="\x00'"),
            max_size=20,
        ),
        max_size=4,
    ),
)
def test_single_quoted_values_round_trip(command: str, values: dict[str, str]) -> None:
    text = " ".join([command, *(f"{k}='{v}'" for k, v in values.items())])
    assert call(text).arguments == values


BARE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00 \t\r\n"),
    max_size=15,
).filter(lambda v: not v.startswith(("'", '"', "{", "[")))


@settings(max_examples=scaled(500), deadline=None)
@given(command=COMMAND, value=BARE)
def test_bare_values_round_trip_through_bare_value(command: str, value: str) -> None:
    (arg,) = call(f"{command} k={value}").args
    assert arg == Arg(("k",), bare_value(value), value, False, len(command) + 1)
    if isinstance(arg.value, str):
        assert arg.value == value
    else:
        assert json.loads(value) == arg.value


LEAF = st.one_of(
    VALUE_TEXT,
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(), VALUE_TEXT), max_size=3),
)
NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,5}", fullmatch=True)
TREE = st.recursive(
    st.dictionaries(NAME, LEAF, min_size=1, max_size=3),
    lambda children: st.dictionaries(NAME, st.one_of(LEAF, children), min_size=1, max_size=3),
    max_leaves=12,
)


def flatten(tree: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            pairs.extend(flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def shorthand(value: object) -> str:
    return dq(value) if isinstance(value, str) else json.dumps(value)


@settings(max_examples=scaled(800), deadline=None)
@given(command=COMMAND, tree=TREE, data=st.data())
def test_dotted_keys_round_trip(command: str, tree: dict[str, object], data: st.DataObject) -> None:
    pairs = data.draw(st.permutations(flatten(tree)))
    text = command + " " + " ".join(f"{key}={shorthand(value)}" for key, value in pairs)
    parsed = call(text)
    assert same_json(parsed.arguments, tree)
    assert sorted(a.key for a in parsed.args) == sorted(key for key, _ in pairs)
    # the same tree as one action of a transaction
    action = transaction(f"transaction(\n {text}\n)").actions[0]
    assert same_json(action.arguments, tree)


JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=scaled(800), deadline=None)
@given(
    name=st.text(),
    arguments=JSON,
    msg_id=st.one_of(st.none(), st.text()),
    indent=st.one_of(st.none(), st.integers(0, 4)),
    lead=st.sampled_from(["", " ", "\n", " \t\n "]),
    oob=st.booleans(),
)
def test_raw_json_is_kept_as_written(
    name: str, arguments: object, msg_id: str | None, indent: int | None, lead: str, oob: bool
) -> None:
    message: dict[str, object] = {"exec-oob" if oob else "execute": name, "arguments": arguments}
    if msg_id is not None:
        message["id"] = msg_id
    parsed = parse(lead + json.dumps(message, indent=indent) + lead)
    assert isinstance(parsed, RawJson)
    assert same_json(parsed.message, message)
    assert parsed.command == name
    assert not is_incomplete(json.dumps(message, indent=indent))


# Pieces that make the scanner's states: JSON brackets, strings and escapes, the
# transaction word with ASCII and non-ASCII blanks around it, built-ins, plain words.
_OPENING_PIECES = st.sampled_from(
    [
        "{", "}", "[", "]", '"', "\\", "\\\"", " ", "\n", "\t", "\r", "\f", "\u00a0", "\x1c",
        "transaction", "transact", "ion", "t", "(", ")", "/", "x", "a=1", ":", ",",
    ]
)  # fmt: skip
_TRANSACTION_START = re.compile(r"\s*transaction\s*\(", re.ASCII)


def _depth_after(text: str) -> int:
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth


def _reference_is_incomplete(text: str, *, multiline_json: bool, hmp_mode: bool) -> bool:
    """The rule as written before it was a scanner: the whole text at once."""
    stripped = text.strip()
    if hmp_mode and not stripped.startswith("/"):
        return False
    if stripped.startswith("{"):
        return multiline_json and _depth_after(stripped) > 0
    if _TRANSACTION_START.match(text):
        return not stripped.endswith(")")
    return False


@settings(max_examples=scaled(3000), deadline=None)
@given(st.lists(_OPENING_PIECES, max_size=40).map("".join), st.data(), st.booleans(), st.booleans())
def test_the_scanner_fed_in_pieces_agrees_with_the_whole_text(
    text: str, data: st.DataObject, multiline_json: bool, hmp_mode: bool
) -> None:
    """However an input is split (a paste line by line, a read mid-escape), the scanner
    says after each piece what ``is_incomplete`` (Enter's rule) says of the text so far."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    scanner = OpenInput(multiline_json=multiline_json, hmp_mode=hmp_mode)
    so_far = ""
    for piece in pieces:
        scanner.feed(piece)
        so_far += piece
        expected = is_incomplete(so_far, multiline_json=multiline_json, hmp_mode=hmp_mode)
        assert scanner.incomplete is expected, pieces
        assert expected is _reference_is_incomplete(
            so_far, multiline_json=multiline_json, hmp_mode=hmp_mode
        ), so_far


@pytest.mark.parametrize(
    "pieces",
    [['{"\\', '"}'], ['{"a', "\\", '"', "}"], ["  transac", "tion ", "\n(", " x=1\n", ")"]],
)
def test_the_scanner_carries_an_escape_and_a_transaction_across_pieces(pieces: list[str]) -> None:
    scanner = OpenInput()
    for piece in pieces:
        scanner.feed(piece)
    text = "".join(pieces)
    assert scanner.incomplete is is_incomplete(text) is (text != "  transaction \n( x=1\n)")


def test_hmp_lines_are_never_incomplete() -> None:
    assert is_incomplete("{", hmp_mode=False)
    assert not is_incomplete("{", hmp_mode=True)
    assert not is_incomplete("transaction(", hmp_mode=True)


def test_comment_lines_inside_a_multi_line_transaction_are_skipped() -> None:
    text = "transaction(\n  # the bitmap first\n  block-dirty-bitmap-add node=n name=b\n  #\n)"
    item = parse(text)
    assert isinstance(item, Transaction)
    assert item.message() == {
        "execute": "transaction",
        "arguments": {
            "actions": [{"type": "block-dirty-bitmap-add", "data": {"node": "n", "name": "b"}}]
        },
    }


def test_a_hash_after_an_action_is_not_a_comment() -> None:
    with pytest.raises(InputError, match="expected key=value, found '#'"):
        parse("transaction(\n  stop # no\n)")


def test_a_huge_token_is_shortened_in_the_one_line_error() -> None:
    """A pasted megabyte word: the error names its start, not all of it."""
    from qmpsh.language.syntax import parse

    with pytest.raises(InputError) as err:
        parse("query-status " + "x" * 1_000_000)
    assert len(str(err.value)) < 120, str(err.value)
    assert "'" + "x" * 60 + "...'" in str(err.value)
