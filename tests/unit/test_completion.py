"""Completion context (pure) and candidates, on every recorded schema (2.12 -> 11.1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmpsh.interactive.completer import complete
from qmpsh.language import completion as c
from qmpsh.language.candidates import Candidate, rank
from qmpsh.language.completion import context, split_tokens
from qmpsh.language.schema import SchemaIndex
from tests.support.corpus import FILES, index, version
from tests.support.fuzzcount import scaled

NAMES = [f.name for f in FILES]
LATEST = "qemu-7.2.22-x86_64.json.gz"


@dataclass
class Knows:
    index: SchemaIndex | None
    commands: tuple[str, ...] = ()
    hmp_mode: bool = False


def texts(before: str, name: str = LATEST) -> list[str]:
    return [cand.text for cand in complete(before, Knows(index(name)))[1]]


# -- context


@pytest.mark.parametrize(
    ("before", "kind", "word", "command", "path"),
    [
        ("", c.COMMAND, "", "", ()),
        ("  que", c.COMMAND, "que", "", ()),
        ("query-status ", c.ARGUMENT, "", "query-status", ()),
        ("blockdev-add driver=qcow2 file.dr", c.ARGUMENT, "dr", "blockdev-add", ("file",)),
        ("blockdev-add a.b.c", c.ARGUMENT, "c", "blockdev-add", ("a", "b")),
        ("blockdev-add driver=qc", c.VALUE, "qc", "blockdev-add", ("driver",)),
        ("blockdev-add file.driver=", c.VALUE, "", "blockdev-add", ("file", "driver")),
        ('qom-get path="/mach', c.VALUE, '"/mach', "qom-get", ("path",)),
        ('x a="b c" ', c.ARGUMENT, "", "x", ()),
        ("/he", c.BUILTIN, "/he", "", ()),
        ("/help x", c.HELP_TOPIC, "x", "", ()),
        ("/exit x", c.NONE, "", "", ()),
        ("/wait SHUT", c.WAIT_EVENT, "SHUT", "", ()),
        ("/wait SHUTDOWN ", c.NONE, "", "", ()),
        ("/events ", c.EVENT_LOG, "", "", ()),
        ("/events mu", c.EVENT_LOG, "mu", "", ()),
        ("/events mute RTC_CHANGE SHUT", c.WAIT_EVENT, "SHUT", "", ()),
        ("/events SHUT* guest=", c.NONE, "", "", ()),
        ("/fd ", c.PATH, "", "", ()),
        ("/fd  /tmp/di", c.PATH, "/tmp/di", "", ()),
        ("/fd /tmp/disk add-", c.COMMAND, "add-", "", ()),
        ("/fd /tmp/disk add-fd fdset-", c.ARGUMENT, "fdset-", "add-fd", ()),
        ("/fd /tmp/disk /he", c.NONE, "", "", ()),
        ("/help /wait SHUT", c.WAIT_EVENT, "SHUT", "", ()),
        ("/help /help /help x", c.HELP_TOPIC, "x", "", ()),
        ('{"execute": "que', c.JSON_COMMAND, "que", "", ()),
        (
            '{"execute": "blockdev-add", "arguments": {"dri',
            c.JSON_ARGUMENT,
            "dri",
            "blockdev-add",
            (),
        ),
        ('{"execute": "x", "arguments": {"a": 1, "', c.JSON_ARGUMENT, "", "x", ()),
        ('{"execute": "x", "arguments": {"a": "b', c.NONE, "", "", ()),
        ("transaction( a", c.ACTION, "a", "", ()),
        ("transaction( abort; bl", c.ACTION, "bl", "", ()),
        ("transaction(\n  abort\n  ", c.ACTION, "", "", ()),
        ("transaction( x=", c.NONE, "", "", ()),
        (
            "transaction(\n  blockdev-snapshot-sync dev",
            c.ARGUMENT,
            "dev",
            "blockdev-snapshot-sync",
            (),
        ),
        ("transaction( abort )", c.NONE, "", "", ()),
    ],
)
def test_context_kinds(
    before: str, kind: str, word: str, command: str, path: tuple[str, ...]
) -> None:
    ctx = context(before)
    assert (ctx.kind, ctx.word, ctx.command, ctx.path) == (kind, word, command, path)


def test_context_collects_what_is_given_for_union_tags() -> None:
    ctx = context('blockdev-add driver=qcow2 file.driver=file cache={"direct": true} x')
    assert ctx.given == {"driver": "qcow2", "file": {"driver": "file"}, "cache": {"direct": True}}


def test_context_in_hmp() -> None:
    assert context("info bl", hmp_mode=True) == c.Context(c.HMP, "bl", words=("info",))
    assert context("/hmp info ").kind == c.HMP
    assert context("/q", hmp_mode=True).kind == c.BUILTIN


def test_split_tokens_respects_quotes_and_brackets() -> None:
    assert split_tokens('a b="c d" e={"f": [1, 2]} g') == (["a", 'b="c d"', 'e={"f": [1, 2]}'], "g")
    assert split_tokens("a b ") == (["a", "b"], None)
    assert split_tokens('a b="open') == (["a"], 'b="open')


@settings(max_examples=scaled(1500), deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" =.\"'{}[]/\\\nabqx-_0:,")), max_size=40))
def test_context_and_completion_never_raise(text: str) -> None:
    ctx = context(text)
    assert ctx.kind in {
        c.COMMAND, c.BUILTIN, c.ARGUMENT, c.VALUE, c.HMP, c.JSON_COMMAND, c.JSON_ARGUMENT,
        c.WAIT_EVENT, c.EVENT_LOG, c.HELP_TOPIC, c.PATH, c.NONE,
    }  # fmt: skip
    word, found = complete(text, Knows(index(LATEST)))
    assert text.endswith(word)
    assert all(isinstance(f, Candidate) for f in found)


# -- candidates on every recording


@pytest.mark.parametrize("name", NAMES)
def test_commands_and_builtins(name: str) -> None:
    found = texts("query-sta", name)
    assert "query-status" in found and all(t.startswith("query-sta") for t in found)
    assert texts("/h", name) == ["/help", "/hmp"]


@pytest.mark.parametrize("name", NAMES)
def test_arguments_required_first_and_given_dropped(name: str) -> None:
    found = texts("blockdev-add ", name)
    assert found[0] == "driver="
    assert "node-name=" in found and "cache." in found
    after = texts("blockdev-add driver=qcow2 node-name=n1 ", name)
    assert "driver=" not in after and "node-name=" not in after
    assert after[:2] == ["file=", "file."]  # required, and an object or a node name


@pytest.mark.parametrize("name", NAMES)
def test_nested_members_at_any_depth(name: str) -> None:
    assert texts("blockdev-add driver=qcow2 file.dr", name) == ["driver="]
    inner = texts("blockdev-add driver=qcow2 file.driver=file file.", name)
    assert inner[0] == "filename="
    assert "file.driver" not in inner
    deeper = texts("blockdev-add driver=qcow2 file.driver=qcow2 file.file.", name)
    assert "driver=" in deeper


@pytest.mark.parametrize("name", NAMES)
def test_union_members_once_the_discriminator_is_typed(name: str) -> None:
    ram = texts("object-add qom-type=memory-backend-ram ", name)
    if version(name) >= (6, 0):
        assert "size=" in ram
    else:
        assert "props=" in ram and "size=" not in ram


@pytest.mark.parametrize("name", NAMES)
def test_enum_and_bool_values(name: str) -> None:
    assert texts("blockdev-add driver=qc", name) == ["qcow", "qcow2"]
    assert texts("blockdev-add driver=raw read-only=", name) == ["true", "false"]
    assert texts('blockdev-add driver="qcow', name) == ['"qcow"', '"qcow2"']


@pytest.mark.parametrize("name", NAMES)
def test_transaction_action_names_then_their_arguments(name: str) -> None:
    actions = texts("transaction( ", name)
    assert {"abort", "blockdev-snapshot-sync", "drive-backup"} <= set(actions)
    assert "query-status" not in actions  # actions only, not every command
    assert texts("transaction( abort; blockdev-snapshot-s", name) == ["blockdev-snapshot-sync"]
    assert "device=" in texts("transaction(\n  blockdev-snapshot-sync ", name)


def test_fuzzy_falls_back_to_substrings_then_letters() -> None:
    found = [Candidate("query-status"), Candidate("query-block"), Candidate("x-query-status")]
    assert [f.text for f in rank("query-s", found)] == ["query-status"]
    assert [f.text for f in rank("status", found)] == ["query-status", "x-query-status"]
    assert [f.text for f in rank("qbk", found)] == ["query-block"]
    assert rank("zzz", found) == []


def test_meta_shows_type_requirement_and_deprecation() -> None:
    _, found = complete("blockdev-add driver=qcow2 ", Knows(index(LATEST)))
    metas = {f.text: f.meta for f in found}
    assert metas["node-name="] == "str, optional"
    assert metas["read-only="] == "bool, optional"
    idx = index(LATEST)
    deprecated = [n for n, cmd in idx.commands.items() if "deprecated" in cmd.features]
    _, found = complete(deprecated[0], Knows(idx))
    assert "deprecated" in found[0].meta


SID = "qemu-11.1.3-x86_64.json.gz"


@pytest.mark.parametrize(
    ("before", "text", "meta"),
    [
        ("query-k", "query-kvm", "command, deprecated"),
        ("block-job-pau", "block-job-pause", "command, deprecated"),
        ("device_ad", "device_add", "command, json-cli, json-cli-hotplug"),
        ("block-commit device=d to", "top=", "str, optional, deprecated"),
        ("dump-guest-memory format=win", "win-dmp", "enum, allowed-by-guest"),
        ("blockdev-add driver=virtio-blk-vhost-vd", "virtio-blk-vhost-vdpa", "enum, fdset"),
        ("object-add qom-type=x-remote-o", "x-remote-object", "enum, unstable"),
        ("transaction(drive-b", "drive-backup", "transaction action, deprecated"),
        ("block-export-add io", "iothread=", "str | array of str, optional"),
    ],
)
def test_meta_marks_every_feature_of_newer_qemus(before: str, text: str, meta: str) -> None:
    """Commands, members, enum values and the variant a tag value selects carry their
    schema features (QEMU 11.1: deprecated, unstable, fdset, allowed-by-guest ...)."""
    _, found = complete(before, Knows(index(SID)))
    assert {f.text: f.meta for f in found}[text] == meta


def test_raw_json_keys_and_command_names() -> None:
    assert "query-status" in texts('{"execute": "query-st')
    assert texts('{"execute": "blockdev-add", "arguments": {"dri') == ["driver"]


def test_help_completes_commands_events_and_then_arguments() -> None:
    assert texts("/help query-sta") == ["query-stats", "query-stats-schemas", "query-status"]
    assert texts("/help BLOCK_JOB_RE") == ["BLOCK_JOB_READY"]
    assert texts("/help blockdev-add driver=qc") == ["qcow", "qcow2"]


def test_events_complete_mute_unmute_and_event_names() -> None:
    found = texts("/events ")
    assert found[:2] == ["mute", "unmute"] and "SHUTDOWN" in found
    assert texts("/events mute SHUTDOWN RTC_") == ["RTC_CHANGE"]
    assert texts("/events SHUTDOWN ") == []
    assert [f.text for f in complete("/events ", Knows(None))[1]] == ["mute", "unmute"]


def test_fd_completes_a_local_file_then_a_command(tmp_path: Path) -> None:
    (tmp_path / "disk.img").touch()
    (tmp_path / "images").mkdir()
    (tmp_path / ".hidden").touch()
    found = complete(f"/fd {tmp_path}/", Knows(None))[1]
    assert [(f.text, f.meta) for f in found] == [
        (f"{tmp_path}/disk.img", "file"),
        (f"{tmp_path}/images/", "directory"),
    ]
    assert texts(f"/fd {tmp_path}/i") == [f"{tmp_path}/images/"]
    assert texts(f"/fd {tmp_path}/.") == [f"{tmp_path}/.hidden"]
    assert texts(f"/fd {tmp_path}/nowhere/") == []
    assert texts(f"/fd {tmp_path}/disk.img get") == ["getfd"]
    assert texts(f"/fd {tmp_path}/disk.img getfd ") == ["fdname="]


def test_without_a_schema_only_names_are_offered() -> None:
    knows = Knows(None, commands=("query-status", "stop"))
    assert [f.text for f in complete("st", knows)[1]] == ["stop"]
    assert complete("blockdev-add ", knows)[1] == []


def test_host_path_members_complete_local_files(tmp_path: Path) -> None:
    (tmp_path / "disk.img").touch()
    (tmp_path / "images").mkdir()
    assert texts(f"blockdev-add driver=file filename={tmp_path}/d") == [f"{tmp_path}/disk.img"]
    assert texts(f"blockdev-add driver=qcow2 file.filename={tmp_path}/i") == [f"{tmp_path}/images/"]
    assert texts(f"drive-mirror target='{tmp_path}/d") == [f"'{tmp_path}/disk.img"]
    assert texts(f"transaction( blockdev-snapshot-sync snapshot-file={tmp_path}/d") == [
        f"{tmp_path}/disk.img"
    ]
    assert texts(f"qom-get path={tmp_path}/d") == []  # a QOM path, not a file
    assert texts(f"blockdev-add driver=ssh path={tmp_path}/d") == []  # on the remote host


def test_keys_inside_an_inline_json_value_are_its_types_members() -> None:
    assert texts('blockdev-add driver=qcow2 file={"dr') == ["driver"]
    assert "filename" in texts('blockdev-add driver=qcow2 file={"driver": "file", "')
    assert texts('blockdev-add driver=qcow2 file={"driver": "file", "fi') == ["filename"]
    nested = texts('blockdev-add driver=qcow2 file={"driver": "qcow2", "file": {"no')
    assert nested == ["node-name"]
    assert "driver" not in texts('blockdev-add driver=qcow2 file={"driver": "file", "')
    assert texts('blockdev-add driver=qcow2 file={"driver": "fi') == []  # a value, not a key
    assert texts('blockdev-add driver=qcow2 file={"driver": "file"} ') != []  # closed: next key
    found = complete('blockdev-add driver=qcow2 file={"dr', Knows(index(LATEST)))
    assert found[0] == "dr" and found[1][0].meta == "enum, required"
    caps = 'migrate-set-capabilities capabilities=[{"capability": "xbzrle", "'
    assert texts(caps) == ["state"]
    assert texts(caps + 'state": true}, {"') == ["capability", "state"]
