"""The completion menu's meta column with the reference manual's words: the first
sentence of a member's (or an enum value's) text, where it fits. A tiny manual written
here names real 7.2 commands, so the schema is the recorded one."""

from __future__ import annotations

from dataclasses import dataclass

from qmpsh.interactive.completer import complete
from qmpsh.language.candidates import META_WIDTH
from qmpsh.language.manual import parse_manual
from qmpsh.language.schema import SchemaIndex
from tests.support.corpus import index

PAGE = r""".TH "QEMU-QMP-REF" "7" "Jan 1, 2000" "7.2.0" "QEMU"
.SS \fBblockdev\-snapshot\-sync\fP (Command)
.sp
For the arguments, see the documentation of Snap.
.SS \fBSnap\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBdevice\fP: \fBstring\fP (optional)
the device.  More words here.
.TP
.B \fBformat\fP: \fBstring\fP (optional)
a very long sentence that goes on and on about formats well past the room the menu has left
.TP
.B \fBmode\fP: \fBNewImageMode\fP (optional)
how
.UNINDENT
.SS \fBNewImageMode\fP (Enum)
.SS Values
.INDENT 0.0
.TP
.B \fBexisting\fP
use what is there. Not more.
.UNINDENT
.SS \fBmigrate\-set\-capabilities\fP (Command)
.SS Arguments
.INDENT 0.0
.TP
.B \fBcapabilities\fP: \fBarray of Cap\fP
the list
.UNINDENT
.SS \fBCap\fP (Object)
.SS Members
.INDENT 0.0
.TP
.B \fBstate\fP: \fBboolean\fP
on or off
.UNINDENT
"""


@dataclass
class Knows:
    index: SchemaIndex
    commands: tuple[str, ...] = ()
    hmp_mode: bool = False


def metas(text: str, *, with_manual: bool = True) -> dict[str, str]:
    manual = parse_manual(PAGE) if with_manual else None
    _, found = complete(text, Knows(index("qemu-7.2.22-x86_64.json.gz")), None, manual)
    return {c.text: c.meta for c in found}


def test_a_members_first_sentence_follows_its_meta() -> None:
    shown = metas("blockdev-snapshot-sync ")
    assert shown["device="] == "str, optional \u2014 the device."
    assert shown["snapshot-file="] == "str, required"  # the manual has no words for it
    long = shown["format="]
    assert long.startswith("str, optional \u2014 a very long sentence") and long.endswith("\u2026")
    assert len(long) <= META_WIDTH
    assert metas("blockdev-snapshot-sync ", with_manual=False)["device="] == "str, optional"


def test_enum_values_and_array_elements_have_theirs() -> None:
    assert metas("blockdev-snapshot-sync mode=")["existing"] == "enum \u2014 use what is there."
    assert metas("migrate-set-capabilities capabilities.0.")["state="] == (
        "bool, required \u2014 on or off"
    )
