"""The QMP reference manual read from roff: both shapes Sphinx writes (tiny snippets
written here), then the manual installed on this machine against the recorded 7.2
schema. The manual's words are read from the system, never kept in this repository."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from qmpsh.errors import InputError
from qmpsh.language.helptext import HelpLine, describe
from qmpsh.language.manual import Manual, first_sentence, parse_manual, unescape
from qmpsh.language.shorthand import example_line, to_shorthand
from qmpsh.language.syntax import QmpCall, RawJson, Transaction, parse
from qmpsh.language.validate import checked
from qmpsh.render.plain import tree_rows
from tests.support.corpus import index

INSTALLED = Path("/usr/share/man/man7/qemu-qmp-ref.7.gz")
SCHEMA_72 = "qemu-7.2.22-x86_64.json.gz"

# The shape up to QEMU 9: a .SS section per definition.
OLD = r""".TH "QEMU-QMP-REF" "7" "Jan 1, 2000" "7.2.0" "QEMU"
.SS \fBfrob\-it\fP (Command)
.sp
Frobs a thing.  Twice.
.sp
For the arguments, see the documentation of FrobArgs.
.SS Returns
.INDENT 0.0
.IP \(bu 2
nothing on success
.UNINDENT
.SS Features
.INDENT 0.0
.TP
.B \fBdeprecated\fP
Use \fBfrob\fP instead.
.UNINDENT
.SS Since
.sp
1.0
.SS Example
.INDENT 0.0
.INDENT 3.5
.sp
.nf
.ft C
\-> { \(dqexecute\(dq: \(dqfrob\-it\(dq,
     \(dqarguments\(dq: { \(dqhow\(dq: \(dqhard\(dq } }
<\- { \(dqreturn\(dq: {} }
.ft P
.fi
.UNINDENT
.UNINDENT
.SS \fBFrobArgs\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBhow\fP: \fBFrobHow\fP (optional)
how to frob
it, or not.
.INDENT 7.0
.IP \(bu 2
\(aqhard\(aq is hard
.UNINDENT
.TP
.B \fBkeys\fP: \fBarray of string\fP
the keys
.TP
.B The members of \fBFrobBase\fP
.UNINDENT
.SS \fBFrobBase\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBnode\fP: \fBFrobNode\fP
the node
.UNINDENT
.SS \fBFrobNode\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBid\fP: \fBstring\fP
its id
.UNINDENT
"""

# The shape from QEMU 10: a definition list with bulleted items.
NEW = r""".TH "QEMU-QMP-REF" "7" "Jan 1, 2000" "11.1.0" "QEMU"
.INDENT 0.0
.TP
.B Command frob\-it (Since: 1.0)
Frobs a thing.
.INDENT 7.0
.TP
.B Arguments
.INDENT 7.0
.IP \(bu 2
\fBhow\fP (\fBstring\fP, \fIoptional\fP) \-\- how to frob
it.
.IP \(bu 2
The members of \fBFrobBase\fP\&.
.UNINDENT
.TP
.B Return
\fB[\fP\fBFrobInfo\fP\fB]\fP \-\- what was frobbed
.TP
.B Errors
.INDENT 7.0
.IP \(bu 2
If it cannot, GenericError
.UNINDENT
.UNINDENT
.INDENT 7.0
.INDENT 3.5
.IP "Example: frob hard"
.INDENT 0.0
.INDENT 3.5
.sp
.EX
\-> { \(dqexecute\(dq: \(dqfrob\-it\(dq }
<\- { \(dqreturn\(dq: [] }
.EE
.UNINDENT
.UNINDENT
.UNINDENT
.UNINDENT
.UNINDENT
.INDENT 0.0
.TP
.B Object FrobBase
.INDENT 7.0
.TP
.B Members
.INDENT 7.0
.IP \(bu 2
\fBnode\fP (\fBstring\fP) \-\- the node
.UNINDENT
.UNINDENT
.UNINDENT
.INDENT 0.0
.TP
.B Event FROBBED (Since: 2.0)
Emitted after a frob.
.UNINDENT
"""


def test_unescape_and_first_sentence() -> None:
    assert unescape(r"\fBa\-b\fP \(dqx\(dq \(aqy\(aq\&. \e") == "a-b \"x\" 'y'. \\"
    assert first_sentence("Frobs a thing.  Twice.") == "Frobs a thing."
    assert first_sentence("No stop\nat all") == "No stop at all"
    assert first_sentence("Use e.g. x") == "Use e.g. x"


def test_the_older_shape() -> None:
    manual = parse_manual(OLD)
    assert manual.version == "7.2.0"
    frob = manual.get("frob-it")
    assert frob is not None and frob.kind == "command"
    assert frob.summary == "Frobs a thing."
    assert frob.text == "Frobs a thing. Twice."  # the pointer is followed, not shown
    assert frob.includes == ("FrobArgs",)  # "see the documentation of"
    assert frob.returns == "nothing on success"
    assert frob.since == "1.0"
    assert frob.notes == ("deprecated: Use frob instead.",)
    (example,) = frob.examples
    assert [d for d, _ in example.messages] == ["->", "<-"]
    assert list(example.requests()) == [{"execute": "frob-it", "arguments": {"how": "hard"}}]
    how = manual.member("frob-it", ("how",))
    assert how is not None and how.type == "FrobHow" and how.optional
    assert how.text == "how to frob it, or not. 'hard' is hard"  # the inner list stays in
    keys = manual.member("frob-it", ("keys",))
    assert keys is not None and keys.type == "array of string" and not keys.optional
    node_id = manual.member("frob-it", ("node", "id"))  # through an include, then a type
    assert node_id is not None and node_id.text == "its id"
    assert manual.member("frob-it", ("nope",)) is None


def test_the_newer_shape() -> None:
    manual = parse_manual(NEW)
    assert manual.version == "11.1.0"
    frob = manual.get("frob-it")
    assert frob is not None and frob.text == "Frobs a thing." and frob.since == "1.0"
    assert frob.returns == "[FrobInfo] -- what was frobbed"
    assert frob.errors == "If it cannot, GenericError"
    assert frob.includes == ("FrobBase",)
    how = manual.member("frob-it", ("how",))
    assert how is not None and (how.type, how.optional, how.text) == (
        "string",
        True,
        "how to frob it.",
    )
    node = manual.member("frob-it", ("node",))
    assert node is not None and node.text == "the node" and not node.optional
    (example,) = frob.examples
    assert example.title == "frob hard"
    assert list(example.requests()) == [{"execute": "frob-it"}]
    event = manual.get("FROBBED")
    assert event is not None and event.kind == "event" and event.text == "Emitted after a frob."
    assert event.since == "2.0" and not event.members


def test_text_that_is_no_manual() -> None:
    assert parse_manual("") == Manual("", {})
    assert parse_manual(".TH x\nhello\n.SS \\fBodd\n").definitions == {}


def test_shorthand_of_a_request() -> None:
    line = to_shorthand(
        {
            "execute": "blockdev-add",
            "arguments": {
                "node-name": "n0",
                "file": {"driver": "file", "filename": "/tmp/a b"},
                "read-only": True,
                "cache": {},
                "n": 1.5,
                "s": "12",
                "q": 'say "hi"\\',
                "list": [1, "x"],
            },
        }
    )
    assert line == (
        'blockdev-add node-name=n0 file.driver=file file.filename="/tmp/a b" read-only=true '
        'cache={} n=1.5 s="12" q="say \\"hi\\"\\\\" list=[1,"x"]'
    )
    # What the shorthand cannot say is left to JSON.
    assert to_shorthand({"execute": "x", "id": "a"}) is None
    assert to_shorthand({"execute": "x", "arguments": {"a.b": 1}}) is None
    assert to_shorthand({"execute": "x", "arguments": {"a": "two\nlines"}}) is None
    assert to_shorthand({"execute": "x", "arguments": {}}) is None
    assert to_shorthand({"execute": "transaction", "arguments": {"actions": []}}) is None


def test_example_line_is_json_where_the_shorthand_would_send_another_request() -> None:
    idx = index(SCHEMA_72)
    short = {"execute": "query-block"}
    assert example_line(short, idx) == "query-block"
    # "id" is typed bare as "123" but is a str: the shorthand re-types it, exactly
    retyped = {"execute": "device_del", "arguments": {"id": "123"}}
    assert example_line(retyped, idx) == 'device_del id="123"'
    unknown = {"execute": "no-such-command"}
    assert example_line(unknown, idx) == json.dumps(unknown)
    assert example_line(short, None) == "query-block"  # without a schema: sent as typed
    typed = {"execute": "x", "arguments": {"id": "123"}}
    assert example_line(typed, None) == 'x id="123"'
    assert example_line({"execute": "x", "arguments": {"n": 1}}, None) == "x n=1"
    both = {
        "execute": "transaction",
        "arguments": {
            "actions": [
                {"type": "block-dirty-bitmap-add", "data": {"node": "d0", "name": "b0"}},
                {"type": "abort", "data": {}},
            ]
        },
    }
    line = "transaction( block-dirty-bitmap-add node=d0 name=b0 ; abort )"
    assert to_shorthand(both) == line and example_line(both, idx) == line
    no_data = {"execute": "transaction", "arguments": {"actions": [{"type": "abort"}]}}
    assert example_line(no_data, idx) == json.dumps(no_data)  # qmpsh would add "data"


def installed() -> Manual:
    if not INSTALLED.is_file():
        pytest.skip(f"{INSTALLED} is not installed (Debian: qemu-system-common)")
    manual = parse_manual(gzip.decompress(INSTALLED.read_bytes()).decode())
    if not manual.version.startswith("7.2."):
        pytest.skip(f"the installed manual is QEMU {manual.version}'s, not 7.2's")
    return manual


def test_every_command_and_event_of_the_installed_manual_gets_its_text() -> None:
    manual = installed()
    idx = index(SCHEMA_72)
    names = [*idx.commands, *idx.events]
    documented = [n for n in names if manual.get(n) is not None]
    undocumented = sorted(set(names) - set(documented))
    print(f"7.2: {len(documented)} of {len(names)} documented; undocumented: {undocumented}")
    assert len(documented) >= 0.95 * len(names)
    for name in documented:
        definition = manual.get(name)
        assert definition is not None
        # Two 7.2 commands document only what they return.
        assert definition.text or definition.returns, name
        assert definition.since, name
    arguments = [
        (name, member.name)
        for name in documented
        for member in idx.members(
            (idx.commands[name] if name in idx.commands else idx.events[name]).arg_type
        )
    ]
    worded = [(n, m) for n, m in arguments if (e := manual.member(n, (m,))) and e.text]
    print(f"7.2: {len(worded)} of {len(arguments)} arguments and event members have text")
    through_alternate = manual.member("blockdev-add", ("file", "driver"))  # BlockdevRef
    assert through_alternate is not None and through_alternate.text
    qcow2 = manual.member("blockdev-add", ("lazy-refcounts",), {"driver": "qcow2"})
    assert qcow2 is not None and qcow2.text  # a union variant's member
    assert len(worded) >= 0.95 * len(arguments)


def test_every_documented_request_converts_exactly() -> None:
    """Each documented request, as ``/example`` offers it, parsed and checked as typed
    against the real 7.2 schema, is the very request the manual shows."""
    manual = installed()
    idx = index(SCHEMA_72)
    requests = [r for d in manual.definitions.values() for e in d.examples for r in e.requests()]
    shorthand, as_json, refused = 0, 0, []
    for request in requests:
        line = example_line(request, idx)
        item = parse(line)
        assert isinstance(item, (QmpCall, Transaction, RawJson))
        if isinstance(item, RawJson):
            as_json += 1
            try:
                sent = checked(item, idx)
            except InputError:  # the schema has no such command (another target's)
                refused.append(item.command)
                continue
        else:
            shorthand += 1
            sent = checked(item, idx)
        assert json.dumps(sent, sort_keys=True) == json.dumps(request, sort_keys=True), line
    print(
        f"7.2: {len(requests)} requests: {shorthand} shorthand, {as_json} JSON; refused {refused}"
    )
    assert len(requests) > 150 and shorthand > 0.9 * len(requests)
    assert len(refused) <= 5


def test_help_tree_carries_the_words_and_wraps_them() -> None:
    page = OLD.replace(r"frob\-it", r"blockdev\-snapshot\-sync").replace(
        r"\fBhow\fP", r"\fBformat\fP"
    )
    manual = parse_manual(page)
    tree = describe(index(SCHEMA_72), "blockdev-snapshot-sync", {}, manual)
    assert tree is not None
    assert tree.lines[0] == HelpLine(0, "", text="Frobs a thing. Twice.")
    (fmt,) = [line for line in tree.lines if line.name == "format"]
    assert fmt.text == "how to frob it, or not. 'hard' is hard"
    assert tree.lines[-2] == HelpLine(0, "since:", "QEMU 1.0")
    assert tree.lines[-1] == HelpLine(0, "", text="deprecated: Use frob instead.")
    rows = tree_rows(tree, width=60)
    at = next(i for i, row in enumerate(rows) if row[0].strip() == "format")
    assert [row[2] for row in rows[at : at + 3]] == [
        "optional",
        "how to frob it, or not.",
        "'hard' is hard",
    ]
    assert all(len("".join(row).rstrip()) <= 60 for row in rows if row[0].strip() == "")
    assert describe(index(SCHEMA_72), "blockdev-snapshot-sync", {}, None) == describe(
        index(SCHEMA_72), "blockdev-snapshot-sync", {}
    )


UNION_OLD = r""".SS \fBSock\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBtype\fP: \fBSockType\fP
the kind
.TP
.B The members of \fBSockA\fP when \fBtype\fP is \fB\(dqa\(dq\fP
.TP
.B The members of \fBSockB\fP when \fBtype\fP is \fB\(dqb\(dq\fP
.UNINDENT
"""
UNION_NEW = r""".INDENT 0.0
.TP
.B Object Sock
.INDENT 7.0
.TP
.B Members
.INDENT 7.0
.IP \(bu 2
\fBtype\fP (\fBSockType\fP) \-\- the kind
.IP \(bu 2
When \fBtype\fP is \fBa\fP: The members of \fBSockA\fP\&.
.IP \(bu 2
When \fBtype\fP is \fBb\fP: The members of \fBSockB\fP\&.
.UNINDENT
.UNINDENT
.UNINDENT
"""
VARIANTS = r""".SS \fBSockA\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBaddr\fP: \fBstring\fP
an A address
.UNINDENT
.SS \fBSockB\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBaddr\fP: \fBstring\fP
a B address
.UNINDENT
"""


@pytest.mark.parametrize("union", [UNION_OLD, UNION_NEW], ids=["older", "newer"])
def test_a_unions_variant_is_the_one_given(union: str) -> None:
    manual = parse_manual(union + VARIANTS)
    sock = manual.get("Sock")
    assert sock is not None and sock.variants == (("type", "a", "SockA"), ("type", "b", "SockB"))
    words = [manual.member("Sock", ("addr",), given) for given in ({"type": "b"}, {}, None)]
    assert [e.text if e else None for e in words] == ["a B address", "an A address", "an A address"]
