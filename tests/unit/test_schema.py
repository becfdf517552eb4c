"""The schema index and the validator on every recorded QEMU (2.12 -> 7.2, three arches)."""

from __future__ import annotations

import pytest

from qmpsh.errors import InputError
from qmpsh.language.schema import SchemaIndex
from qmpsh.language.syntax import QmpCall, parse
from qmpsh.language.validate import check_call, check_message, parse_size
from tests.support.corpus import FILES, index, recording, version

NAMES = [f.name for f in FILES]


def call(text: str) -> QmpCall:
    parsed = parse(text)
    assert isinstance(parsed, QmpCall)
    return parsed


def test_corpus_is_present() -> None:
    assert len(NAMES) == 11


@pytest.mark.parametrize("name", NAMES)
def test_index_knows_every_command_and_event(name: str) -> None:
    idx = index(name)
    schema = recording(name)["replies"]["query-qmp-schema"]
    commands = {e["name"] for e in schema if e["meta-type"] == "command"}
    events = {e["name"] for e in schema if e["meta-type"] == "event"}
    assert set(idx.commands) == commands
    assert set(idx.events) == events
    # query-commands may list fewer than the schema (2.12), never more
    listed = {c["name"] for c in recording(name)["replies"]["query-commands"]}
    assert listed <= commands


EXPORT = "block-export-add type=nbd id=e0 node-name=disk0 "


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("iothread=io0", "io0"),
        ("iothread=123", "123"),  # a bare value is the str branch's, as for a str member
        ("iothread=true", "true"),
        ('iothread=["io0","io1"]', ["io0", "io1"]),
        ("iothread.0=io0 iothread.1=io1", ["io0", "io1"]),
    ],
)
def test_str_or_str_array_takes_either_form_on_11_1(given: str, sent: object) -> None:
    """QEMU 11.1's new ``str | [str]`` alternate (``block-export-add iothread=``)."""
    idx = index("qemu-11.1.3-x86_64.json.gz")
    assert check_call(idx, call(EXPORT + given))["iothread"] == sent


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("iothread=[1,2]", "iothread.0: expected str, got 1"),
        ('iothread=["io0",2]', "iothread.1: expected str, got 2"),
    ],
)
def test_an_array_for_str_or_str_array_is_checked_as_an_array(given: str, problem: str) -> None:
    """A list is meant for the array branch: its own error, never re-typed into a string."""
    with pytest.raises(InputError, match=problem):
        check_call(index("qemu-11.1.3-x86_64.json.gz"), call(EXPORT + given))


@pytest.mark.parametrize("name", NAMES)
def test_every_argument_tree_can_be_walked_despite_cycles(name: str) -> None:
    idx = index(name)
    walked = 0
    for command in idx.commands:
        for member in idx.arguments(command):
            walked += 1
            assert idx.type_label(member.type)
            nested = idx.nested_members(command, [member.name])
            for inner in nested:
                idx.nested_members(command, [member.name, inner.name])
    assert walked > 300


@pytest.mark.parametrize("name", NAMES)
def test_blockdev_add_union_members_join_once_driver_is_known(name: str) -> None:
    idx = index(name)
    base = {m.name for m in idx.arguments("blockdev-add")}
    assert {"driver", "node-name"} <= base
    assert "file" not in base
    qcow2 = {m.name for m in idx.arguments("blockdev-add", {"driver": "qcow2"})}
    assert {"driver", "node-name", "file", "backing"} <= qcow2
    # nested: file.* of a qcow2 node is again a BlockdevOptions union (through an alternate)
    file_members = idx.nested_members("blockdev-add", ["file"], {"driver": "qcow2"})
    assert "driver" in {m.name for m in file_members}
    inner = idx.nested_members(
        "blockdev-add", ["file"], {"driver": "qcow2", "file": {"driver": "file"}}
    )
    assert "filename" in {m.name for m in inner}
    member = idx.member_at("blockdev-add", ["file", "driver"], {"driver": "qcow2"})
    assert member is not None and "qcow2" in idx.enum_values(member.type)


@pytest.mark.parametrize("name", NAMES)
def test_object_add_is_free_form_before_6_0_and_a_union_after(name: str) -> None:
    idx = index(name)
    names = {m.name for m in idx.arguments("object-add")}
    ram = {m.name for m in idx.arguments("object-add", {"qom-type": "memory-backend-ram"})}
    if version(name) < (6, 0):
        assert "props" in names and "size" not in ram
    else:
        assert "qom-type" in names and "size" in ram


@pytest.mark.parametrize("name", NAMES)
def test_netdev_add_is_a_union_from_5_2(name: str) -> None:
    idx = index(name)
    user = {m.name for m in idx.arguments("netdev_add", {"type": "user"})}
    if version(name) >= (5, 2):
        assert "hostfwd" in user
    else:
        assert "hostfwd" not in user


@pytest.mark.parametrize("name", NAMES)
def test_enums_with_values_or_members(name: str) -> None:
    idx = index(name)
    status = idx.commands["query-status"]
    members = {m.name: m for m in idx.members(status.ret_type)}
    values = idx.enum_values(members["status"].type)
    assert {"running", "paused"} <= set(values)


def test_enum_with_members_only_still_has_values() -> None:
    idx = SchemaIndex(
        [
            {"name": "c", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
            {"name": "1", "meta-type": "object", "members": [{"name": "e", "type": "2"}]},
            {"name": "2", "meta-type": "enum", "members": [{"name": "a"}, {"name": "b"}]},
        ]
    )
    assert idx.enum_values("2") == ("a", "b")
    assert check_call(idx, call("c e=b")) == {"e": "b"}


def test_features_deprecated_and_allow_oob_on_7_2() -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    assert idx.commands["migrate-continue"].allow_oob is False
    assert any(c.allow_oob for c in idx.commands.values())
    deprecated = [c for c in idx.commands.values() if "deprecated" in c.features]
    assert deprecated
    unstable = [c for c in idx.commands.values() if "unstable" in c.features]
    assert unstable


def test_malformed_entries_are_ignored_not_fatal() -> None:
    idx = SchemaIndex([None, 1, {"name": 3}, {"meta-type": "command"}, {"name": "x"}])
    assert idx.commands == {}
    assert idx.members("x") == []
    assert idx.type_label("nope") == "any"


@pytest.mark.parametrize("name", NAMES)
def test_validator_accepts_what_qemu_accepts(name: str) -> None:
    idx = index(name)
    args = check_call(
        idx,
        call(
            "blockdev-add driver=qcow2 node-name=n1 file.driver=file file.filename=/x.qcow2 "
            "read-only=true"
        ),
    )
    assert args == {
        "driver": "qcow2",
        "node-name": "n1",
        "file": {"driver": "file", "filename": "/x.qcow2"},
        "read-only": True,
    }
    assert check_call(idx, call("qom-get path=/machine property=type")) == {
        "path": "/machine",
        "property": "type",
    }
    # device_add: device properties are not in the schema; they go as typed
    dev = check_call(idx, call("device_add driver=virtio-blk-pci id=123 drive=d0 num-queues=2"))
    assert dev == {"driver": "virtio-blk-pci", "id": "123", "drive": "d0", "num-queues": 2}


@pytest.mark.parametrize("name", NAMES)
def test_bare_numbers_for_string_members_become_strings(name: str) -> None:
    idx = index(name)
    assert check_call(idx, call("blockdev-add driver=raw node-name=123 file=456")) == {
        "driver": "raw",
        "node-name": "123",
        "file": "456",  # BlockdevRef: alternate of object and str
    }


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("query-stauts", "unknown command 'query-stauts'; did you mean 'query-status'?", 0),
        ("qom-get path=/machine", "missing argument 'property' (str)", 0),
        ("blockdev-add driver=qcow3 node-name=n", "driver: 'qcow3' is not a valid value", 13),
        ("blockdev-add driver=raw file=f cache.direct=1", "cache.direct: expected bool, got 1", 31),
        (
            "blockdev-add driver=qcow2 file.driver=file file.filenme=/x",
            "unknown argument 'file.filenme'; did you mean 'file.filename'?",
            43,
        ),
        ("query-status verbose=true", "unknown argument 'verbose'", 13),
        ("migrate-set-parameters downtime-limit=x", "downtime-limit: expected int, got 'x'", 23),
    ],
)
def test_validator_rejects_with_a_column(text: str, message: str, column: int) -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    with pytest.raises(InputError) as caught:
        check_call(idx, call(text))
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.column == column


def test_raw_json_is_checked_without_retyping() -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    check_message(idx, {"execute": "query-status"})
    with pytest.raises(InputError, match="node-name: expected str, got 5"):
        check_message(
            idx, {"execute": "blockdev-add", "arguments": {"driver": "raw", "node-name": 5}}
        )
    with pytest.raises(InputError, match="unknown command 'nope'"):
        check_message(idx, {"execute": "nope"})


def test_sizes_with_suffixes_for_integer_members() -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    args = check_call(idx, call("object-add qom-type=memory-backend-ram id=m size=1G"))
    assert args["size"] == 1024**3
    args = check_call(idx, call("object-add qom-type=memory-backend-ram id=m size=1.5M"))
    assert args["size"] == 1536 * 1024
    args = check_call(idx, call("block-job-set-speed device=j speed=10M"))  # the README's
    assert args["speed"] == 10 * 1024**2
    with pytest.raises(InputError, match="expected int"):  # quoted: the user meant a string
        check_call(idx, call('object-add qom-type=memory-backend-ram id=m size="1G"'))
    # a str member keeps "1G" as typed
    assert check_call(idx, call("blockdev-add driver=raw node-name=1G file=f"))["node-name"] == "1G"
    assert parse_size("12") is None and parse_size("1X") is None and parse_size("4KiB") == 4096


@pytest.mark.parametrize("name", NAMES)
def test_numeric_keys_under_an_array_member_build_the_array(name: str) -> None:
    idx = index(name)
    args = check_call(
        idx,
        call(
            "migrate-set-capabilities capabilities.0.capability=events capabilities.0.state=true "
            "capabilities.1.capability=xbzrle capabilities.1.state=false"
        ),
    )
    assert args == {
        "capabilities": [
            {"capability": "events", "state": True},
            {"capability": "xbzrle", "state": False},
        ]
    }
    # elements are typed by the schema: BlockdevRef takes a bare 123 as the node name "123"
    quorum = check_call(
        idx,
        call(
            "blockdev-add driver=quorum node-name=q vote-threshold=1 children.0=123 "
            "children.1.driver=file children.1.filename=/x"
        ),
    )
    assert quorum["children"] == ["123", {"driver": "file", "filename": "/x"}]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        (
            "migrate-set-capabilities capabilities.0.capability=events capabilities.0.state=true "
            "capabilities.2.capability=xbzrle capabilities.2.state=true",
            "'capabilities.2': array index 2 leaves a gap (indices count from 0: 1 is missing)",
            84,
        ),
        (
            "migrate-set-capabilities capabilities.1.capability=events capabilities.1.state=true",
            "'capabilities.1': array index 1 leaves a gap (indices count from 0: 0 is missing)",
            25,
        ),
        (
            "migrate-set-capabilities capabilities.0.capability=events capabilities.0.state=true "
            "capabilities.00.capability=xbzrle capabilities.00.state=true",
            "'capabilities.00': duplicate array index 0",
            84,
        ),
        (
            "migrate-set-capabilities capabilities.0.capability=events capabilities.x=1",
            "'capabilities.x': expected an array index (0, 1, ...)",
            58,
        ),
        (
            "migrate-set-capabilities capabilities.0.capability=events capabilities.0.state=1",
            "capabilities.0.state: expected bool, got 1",
            58,
        ),
        (
            "migrate-set-capabilities capabilities.0.capability=events",
            "missing argument 'capabilities.0.state' (bool)",
            25,
        ),
    ],
)
def test_array_keys_are_checked_like_dotted_keys(text: str, message: str, column: int) -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    with pytest.raises(InputError) as caught:
        check_call(idx, call(text))
    assert caught.value.message == message
    assert caught.value.column == column


def test_numeric_keys_keep_their_meaning_where_the_schema_cannot_say() -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    # qom-set's value is 'any'; device_add's properties are not in the schema
    args = check_call(idx, call("qom-set path=/machine property=x value.0=1"))
    assert args["value"] == {"0": 1}
    assert check_call(idx, call("device_add driver=x foo.0=1"))["foo"] == {"0": 1}
    assert call("migrate-set-capabilities capabilities.0.state=true").arguments == {
        "capabilities": {"0": {"state": True}}
    }


@pytest.mark.parametrize("name", NAMES)
def test_an_object_for_an_object_or_str_alternate_reports_the_object_problem(name: str) -> None:
    idx = index(name)
    with pytest.raises(InputError) as caught:
        check_call(idx, call("blockdev-add driver=qcow2 node-name=x file.driver=file"))
    assert caught.value.message == "missing argument 'file.filename' (str)"
    assert caught.value.column == 38
    with pytest.raises(InputError, match=r"^missing argument 'file\.filename' \(str\)$"):
        check_message(
            idx,
            {
                "execute": "blockdev-add",
                "arguments": {"driver": "qcow2", "node-name": "x", "file": {"driver": "file"}},
            },
        )
