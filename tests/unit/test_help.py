"""``/help``: command groups and argument trees, on every recorded schema (``test_help_qemu.py``:
on a real QEMU)."""

from __future__ import annotations

import pytest

from qmpsh.language.helptext import describe, group_commands, unknown_topic
from tests.support.corpus import FILES, index, version

NAMES = [f.name for f in FILES]


def names(tree_lines: object) -> list[str]:
    assert isinstance(tree_lines, tuple)
    return ["  " * line.depth + line.name for line in tree_lines]


@pytest.mark.parametrize("name", NAMES)
def test_every_command_and_event_has_a_tree(name: str) -> None:
    idx = index(name)
    for command in idx.commands:
        tree = describe(idx, command, {})
        assert tree is not None and tree.title.startswith(f"{command} (command")
        assert tree.lines[0].name == "arguments:"
        assert any(line.name == "returns:" for line in tree.lines)
    for event in idx.events:
        tree = describe(idx, event, {})
        assert tree is not None and tree.lines[0].name == "data:"
    assert describe(idx, "no-such-thing", {}) is None


@pytest.mark.parametrize("name", NAMES)
def test_blockdev_add_tree_shows_variants_until_the_tag_is_given(name: str) -> None:
    idx = index(name)
    plain = describe(idx, "blockdev-add", {})
    assert plain is not None
    rows = names(plain.lines)
    assert "  driver" in rows and "  cache" in rows and "    direct" in rows
    variants = next(line for line in plain.lines if line.name == "variants by driver:")
    assert "qcow2" in variants.notes
    qcow2 = describe(idx, "blockdev-add", {"driver": "qcow2"})
    assert qcow2 is not None
    assert "  file" in names(qcow2.lines) and "  backing" in names(qcow2.lines)
    assert not any(line.name == "variants by driver:" for line in qcow2.lines)
    driver = next(line for line in qcow2.lines if line.name == "driver")
    assert (driver.type, driver.notes.split(",")[0]) == ("enum", "required")


@pytest.mark.parametrize("name", NAMES)
def test_an_array_of_objects_shows_its_elements_members(name: str) -> None:
    tree = describe(index(name), "blockdev-add", {"driver": "blkdebug"})
    assert tree is not None
    rows = names(tree.lines)
    at = rows.index("  inject-error")
    assert tree.lines[at].type == "array of object"
    elements = rows[at + 1 : rows.index("  set-state")]
    assert {"    event", "    errno", "    once"} <= set(elements)
    event = tree.lines[at + 1 + elements.index("    event")]
    assert event.notes.startswith("required") and "read_aio" in event.notes


def test_return_shape_and_enum_values() -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    tree = describe(idx, "query-status", {})
    assert tree is not None
    returns = next(line for line in tree.lines if line.name == "returns:")
    assert returns.type == "object"
    status = next(line for line in tree.lines if line.name == "status")
    assert "running" in status.notes and "shutdown" in status.notes


@pytest.mark.parametrize("name", NAMES)
def test_groups_cover_every_command_once(name: str) -> None:
    idx = index(name)
    groups = group_commands(idx.commands)
    listed = [n for _, members in groups for n in members]
    assert sorted(listed) == sorted(idx.commands)
    by_group = dict(groups)
    assert "query-status" in by_group["query"]
    assert "blockdev-add" in by_group["block"]
    if version(name) >= (4, 2):
        assert all(n.startswith("x-") for n in by_group["experimental (x-)"])


def test_values_and_variants_carry_their_features_on_11_1() -> None:
    """What a value or a variant means beyond its name is said beside it, as a member's is."""
    idx = index("qemu-11.1.3-x86_64.json.gz")
    dump = describe(idx, "dump-guest-memory", {})
    assert dump is not None
    notes = {line.name: line.notes for line in dump.lines}
    assert "| win-dmp (allowed-by-guest)" in notes["format"]
    add = describe(idx, "blockdev-add", {})
    assert add is not None
    variants = next(line.notes for line in add.lines if line.name == "variants by driver:")
    assert "| virtio-blk-vhost-vdpa (fdset) |" in variants
    assert "| file (dynamic-auto-read-only) |" in variants
    actions = describe(idx, "transaction", {})
    assert actions is not None
    assert any(line.notes.endswith("| drive-backup (deprecated)") for line in actions.lines)
    variants = next(line.notes for line in actions.lines if line.name == "variants by type:")
    assert "| drive-backup (deprecated) (/help ... type=X)" in variants
    commit = describe(idx, "block-commit", {})
    assert commit is not None
    assert {line.name: line.notes for line in commit.lines}["top"] == "optional, deprecated"
    kvm = describe(idx, "query-kvm", {})
    assert kvm is not None and kvm.title == "query-kvm (command; deprecated)"


def test_groups_people_use_come_first_and_experimental_last() -> None:
    groups = [group for group, _ in group_commands(index("qemu-7.2.22-x86_64.json.gz").commands)]
    assert groups[:4] == ["query", "block", "jobs", "migration"]
    assert groups[-2:] == ["other", "experimental (x-)"]
    assert dict(group_commands(["x-blockdev-change", "blockdev-add"])) == {
        "block": ["blockdev-add"],
        "experimental (x-)": ["x-blockdev-change"],
    }


def test_an_unknown_topic_names_the_closest_command_or_event() -> None:
    idx = index("qemu-7.2.22-x86_64.json.gz")
    assert unknown_topic("query-stauts", idx, ()) == (
        "unknown command or event 'query-stauts'; did you mean 'query-status'?"
    )
    assert unknown_topic("SHUTDWN", idx, ()).endswith("did you mean 'SHUTDOWN'?")
    assert unknown_topic("stpo", None, ("stop", "cont")) == (
        "unknown command 'stpo'; did you mean 'stop'?"
    )
