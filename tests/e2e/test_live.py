"""Live completion values: rules and extractors on recorded replies, the session's
lookup cache on a stub transport, and completion against real QEMU (and a stalled
fake server, which must not hang it)."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from qmpsh.errors import ConnectionLost, ExitStatus
from qmpsh.interactive import prompt as prompt_module
from qmpsh.interactive.completer import complete
from qmpsh.interactive.lookups import Lookups
from qmpsh.language import live_values as live
from qmpsh.language.completion import context
from qmpsh.language.live_values import Question
from qmpsh.language.schema import SchemaIndex
from qmpsh.language.syntax import parse
from qmpsh.render.rich_terminal import rich_renderer
from qmpsh.session.dispatch import run, run_text
from qmpsh.session.outcomes import Reply
from qmpsh.session.session import Session
from qmpsh.transport.qemu_qmp import QmpTransport
from tests.support.corpus import FILES, index, recording
from tests.support.fakeserver import Connection, FakeServer
from tests.support.places import short_tempdir
from tests.support.qemu import Qemu, start_qemu
from tests.support.repldriver import CTRL_C, CTRL_D, TAB, running_repl
from tests.support.repldriver import menu as _menu
from tests.support.stub_transport import StubTransport
from tests.support.waiting import until, wait_until

pytestmark = pytest.mark.every_qemu

LATEST = "qemu-7.2.22-x86_64.json.gz"

# Recorded from QEMU 7.2.22 (Debian 12), a q35 guest with a -blockdev qcow2 behind
# virtio-blk-pci id=disk0, a -drive if=none id=drv1, an empty ide-cd id=cd0 and a
# mirror job; trimmed to the members qmpsh reads.
NODES = [
    {"node-name": "#block290", "drv": "mirror_top", "file": "/tmp/x.qcow2", "ro": False},
    {"node-name": "tgt", "drv": "null-co", "file": 'json:{"driver": "null-co"}', "ro": False},
    {"node-name": "#block188", "drv": "qcow2", "file": "/tmp/y.qcow2", "ro": False},
    {"node-name": "node0", "drv": "qcow2", "file": "/tmp/x.qcow2", "ro": False},
    {"node-name": "file0", "drv": "file", "file": "/tmp/x.qcow2", "ro": False},
]
BLOCK = [
    {"device": "drv1", "removable": True, "locked": False, "type": "unknown",
     "inserted": {"node-name": "#block188", "drv": "qcow2", "file": "/tmp/y.qcow2"}},
    {"device": "", "qdev": "/machine/peripheral/disk0/virtio-backend", "removable": False,
     "inserted": {"node-name": "node0", "drv": "qcow2", "file": "/tmp/x.qcow2"}},
    {"device": "", "qdev": "cd0", "removable": True, "locked": False, "type": "unknown"},
]  # fmt: skip
JOBS = [{"current-progress": 16, "status": "ready", "total-progress": 16, "type": "mirror",
         "id": "job0"}]  # fmt: skip
HELP = (  # lines of HMP "help", verbatim, chosen for their shapes
    "block_job_cancel [-f] device -- stop an active background block operation (use -f\r\n"
    "\t\t\t if you want to abort the operation immediately\r\n"
    "cont|c  -- resume emulation\r\n"
    "drive_add [-n] [[<domain>:]<bus>:]<slot>\r\n"
    "[file=file][,if=type][,bus=n]\r\n"
    "[,readonly=on|off][,copy-on-read=on|off] -- add drive to PCI storage controller\r\n"
    "help|? [cmd] -- show the help\r\n"
    "info [subcommand] -- show various information about the system state\r\n"
    "stopcapture index -- stop capture\r\n"
    "stop|s  -- stop emulation\r\n"
)
HELP_INFO = (
    "info balloon  -- show balloon information\r\n"
    "info block [-n] [-v] [device] -- show info of one block device or all block devices\r\n"
    "info block-jobs  -- show progress of ongoing block device operations\r\n"
)


def _call(name: str, command: str, **arguments: object) -> object:
    """A recorded reply to ``command`` with ``arguments`` (the corpus ``calls``)."""
    for call in recording(name)["calls"]:
        if call["execute"] == command and call.get("arguments") == arguments:
            return call.get("return")
    raise LookupError(command, arguments)


# -- extractors


def test_node_names_put_qemus_generated_names_last() -> None:
    assert live.node_names(NODES) == [
        ("file0", "file node, x.qcow2"),
        ("node0", "qcow2 node, x.qcow2"),
        ("tgt", "null-co node"),
        ("#block188", "qcow2 node, y.qcow2"),
        ("#block290", "mirror_top node, x.qcow2"),
    ]


def test_block_backends_and_guest_devices() -> None:
    assert live.block_backends(BLOCK) == [("drv1", "block backend, qcow2")]
    assert live.guest_block_devices(BLOCK) == [
        ("/machine/peripheral/disk0/virtio-backend", "guest device, node0"),
        ("cd0", "guest device, empty"),
    ]


def test_attachments_name_the_device_using_a_backend_or_root_node() -> None:
    assert live.attachments(BLOCK) == [("node0", "attached to disk0")]
    used = [{"device": "drv2", "qdev": "/machine/peripheral-anon/device[0]/virtio-backend",
             "inserted": {"node-name": "#block5"}}]  # fmt: skip
    note = "attached to /machine/peripheral-anon/device[0]/virtio-backend"
    assert live.attachments(used) == [("#block5", note), ("drv2", note)]


def test_iothreads_with_their_host_threads() -> None:
    reply = [{"id": "io1", "thread-id": 4242, "poll-max-ns": 32768}, {"id": "io0"}]
    assert live.iothread_ids(reply) == [("io0", "iothread"), ("io1", "iothread, host thread 4242")]


def test_jobs_and_chardevs() -> None:
    assert live.job_ids(JOBS) == [("job0", "mirror job, ready")]
    chardevs = recording(LATEST)["replies"]["query-chardev"]
    assert live.chardev_labels(chardevs) == [
        ("compat_monitor0", "unix:/run/qemu/qmp.sock,server=on")
    ]


def test_qom_children_are_paths_and_properties_are_all_names() -> None:
    machine = _call(LATEST, "qom-list", path="/machine")
    children = dict(live.qom_children(machine, "/machine/"))
    assert children["/machine/peripheral"] == "child<container>"
    assert children["/machine/memory-backend"] == "link<memory-backend>"
    assert "/machine/kernel" not in children  # a string property, not a step in a path
    properties = dict(live.qom_properties(machine))
    assert properties["kernel"] == "string" and "peripheral" in properties


@pytest.mark.parametrize("name", [f.name for f in FILES])
def test_types_and_device_properties_on_every_recording(name: str) -> None:
    types = dict(live.type_names(recording(name)["replies"]["qom-list-types"]))
    assert "virtio-blk-pci" in types and "memory-backend-ram" in types
    assert types["memory-backend-ram"] == "memory-backend"
    props = dict(
        live.device_properties(_call(name, "device-list-properties", typename="virtio-blk-pci"))
    )
    assert props["drive="] == "str" and props["bootindex="] == "int32"


def test_hmp_help_names_aliases_and_continuations() -> None:
    assert live.hmp_names(HELP) == [
        ("?", "show the help"),
        ("block_job_cancel", "stop an active background block operation (use -f"),
        ("c", "resume emulation"),
        ("cont", "resume emulation"),
        ("drive_add", ""),  # its usage spans lines; those starting with '[' are not names
        ("help", "show the help"),
        ("info", "show various information about the system state"),
        ("s", "stop emulation"),
        ("stop", "stop emulation"),
        ("stopcapture", "stop capture"),
    ]
    assert [n for n, _ in live.hmp_names(HELP_INFO, "info ")] == ["balloon", "block", "block-jobs"]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
EXTRACTORS: list[Callable[[object], list[live.Value]]] = [
    live.node_names, live.block_backends, live.guest_block_devices, live.qom_properties,
    live.type_names, live.device_properties, live.chardev_labels, live.job_ids, live.hmp_names,
    live.iothread_ids,
    lambda r: live.qom_children(r, "/"),
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_extractors_are_total_on_replies_of_any_shape(reply: object) -> None:
    for extract in EXTRACTORS:
        found = extract(reply)
        assert all(isinstance(t, str) and isinstance(m, str) for t, m in found)
    for extract in EXTRACTORS[:-1]:  # list items with the right keys but wrong types
        assert extract([{"name": 1, "node-name": None, "label": [], "id": {}, "device": 2}]) == []


# -- rules: which question a position asks


Asked = tuple[str, dict[str, object]]
NODES_Q: Asked = ("query-named-block-nodes", {"flat": True})
BLOCK_Q: Asked = ("query-block", {})
MODELS_Q: Asked = ("qom-list-types", {"implements": "device", "abstract": False})
TYPES_Q: Asked = ("qom-list-types", {"implements": "user-creatable", "abstract": False})
PROPS_Q: Asked = ("device-list-properties", {"typename": "virtio-blk-pci"})
PERIPHERAL_Q: Asked = ("qom-list", {"path": "/machine/peripheral"})
IOTHREADS_Q: Asked = ("query-iothreads", {})


def _asks(
    before: str, hmp: bool = False, name: str = LATEST
) -> list[tuple[str, dict[str, object]]]:
    wants = live.wanted(context(before, hmp_mode=hmp), index(name))
    return [(w.question.command, w.question.args()) for w in wants]


@pytest.mark.parametrize(
    ("before", "hmp", "asks"),
    [
        ("block_resize node-name=", False, [NODES_Q]),
        ("block-commit top-node=n", False, [NODES_Q]),
        ("blockdev-add driver=qcow2 node-name=", False, []),  # it names a new node
        ("drive-mirror node-name=", False, []),
        ("blockdev-add driver=qcow2 file=", False, [NODES_Q]),
        ("blockdev-backup target=", False, [NODES_Q]),
        ("drive-backup target=", False, []),  # a file name
        ("block-stream device=", False, [BLOCK_Q, NODES_Q]),
        ("eject device=", False, [BLOCK_Q]),
        ("eject id=", False, [BLOCK_Q]),
        ("block-job-cancel device=", False, [("query-jobs", {})]),
        ("job-dismiss id=", False, [("query-jobs", {})]),
        ("chardev-remove id=", False, [("query-chardev", {})]),
        ("ringbuf-write device=", False, [("query-chardev", {})]),
        ("chardev-add id=", False, []),
        ("device_del id=", False, [PERIPHERAL_Q]),
        ("object-del id=", False, [("qom-list", {"path": "/objects"})]),
        ("device_add driver=vi", False, [MODELS_Q]),
        ("device_add driver=virtio-blk-pci drive=", False, [BLOCK_Q, NODES_Q, BLOCK_Q]),
        ("device_add driver=virtio-blk-pci ", False, [PROPS_Q]),
        ("device_add ", False, []),
        ("device_add driver=x file.", False, []),
        ("object-add qom-type=", False, [TYPES_Q]),
        ("x-blockdev-set-iothread node-name=n0 iothread=", False, [IOTHREADS_Q]),
        ("device_add driver=virtio-blk-pci iothread=", False, [IOTHREADS_Q]),
        ("block-export-add type=nbd iothread=", False, [IOTHREADS_Q]),
        ("qom-list path=", False, [("qom-list", {"path": "/"})]),
        ("qom-list path=/machine/per", False, [("qom-list", {"path": "/machine"})]),
        ('qom-get path="/machine/peripheral/', False, [PERIPHERAL_Q]),
        ("qom-list path=disk0", False, []),  # a partial path: nothing to list
        ("qom-get path=/machine property=", False, [("qom-list", {"path": "/machine"})]),
        ("qom-get property=", False, []),
        ("query-status ", False, []),
        ("stop", False, []),
        ("", True, [("human-monitor-command", {"command-line": "help"})]),
        ("help ", True, [("human-monitor-command", {"command-line": "help"})]),
        ("info bl", True, [("human-monitor-command", {"command-line": "help info"})]),
        ("/hmp info ", False, [("human-monitor-command", {"command-line": "help info"})]),
        ("device_del ", True, [PERIPHERAL_Q]),
        ("device_del disk0 ", True, []),  # only the first argument
        ("eject -f ", True, [BLOCK_Q]),
        ("eject -", True, []),
        ("device_add virtio-blk-pci,dr", True, []),
        ("object_add ", True, [TYPES_Q]),
        ("qom-list /ma", True, [("qom-list", {"path": "/"})]),
        ("stop ", True, []),
    ],
)  # fmt: skip
def test_rules(before: str, hmp: bool, asks: list[Asked]) -> None:
    assert _asks(before, hmp) == asks


def test_node_names_are_asked_without_flat_where_qemu_lacks_it() -> None:
    assert _asks("block_resize node-name=", name="qemu-4.2.0-x86_64.json.gz") == [
        ("query-named-block-nodes", {})
    ]


def test_only_types_and_hmp_help_outlive_the_prompt() -> None:
    lasting = {
        w.question.command: w.question.lasting
        for before in ("device_add driver=", "device_add driver=x ", "object-del id=", "x node=")
        for w in live.wanted(context(before), index(LATEST))
    }
    assert lasting == {
        "qom-list-types": True, "device-list-properties": True,
        "qom-list": False, "query-named-block-nodes": False,
    }  # fmt: skip
    assert all(w.question.lasting for w in live.wanted(context("info ", hmp_mode=True), None))


# -- candidates: live values merged with the schema's


@dataclass
class Knows:
    index: SchemaIndex | None
    commands: tuple[str, ...] = ()
    hmp_mode: bool = False


def _complete(before: str, replies: Mapping[Question, object], hmp: bool = False) -> list[str]:
    _, found = complete(before, Knows(index(LATEST), hmp_mode=hmp), replies.get)
    return [c.text for c in found]


def _replies(before: str, reply: object, hmp: bool = False) -> dict[Question, object]:
    return {w.question: reply for w in live.wanted(context(before, hmp_mode=hmp), index(LATEST))}


def test_drive_marks_the_backends_and_nodes_a_device_already_uses() -> None:
    before = "device_add driver=virtio-blk-pci drive="
    replies = {w.question: BLOCK if w.question == Question("query-block") else NODES
               for w in live.wanted(context(before), index(LATEST))}  # fmt: skip
    _, found = complete(before, Knows(index(LATEST)), replies.get)
    metas = {c.text: c.meta for c in found}
    assert metas["node0"] == "qcow2 node, x.qcow2, attached to disk0"
    assert metas["drv1"] == "block backend, qcow2"  # free
    assert metas["file0"] == "file node, x.qcow2"
    assert [c.text for c in found][:2] == ["drv1", "file0"]  # notes add no names
    assert "/machine/peripheral/disk0/virtio-backend" not in metas
    _, elsewhere = complete("block-stream device=", Knows(index(LATEST)), replies.get)
    assert not any("attached" in c.meta for c in elsewhere)  # notes only for drive=


def test_device_properties_follow_the_schemas_arguments_and_drop_given_ones() -> None:
    props = _call(LATEST, "device-list-properties", typename="virtio-blk-pci")
    replies = _replies("device_add driver=virtio-blk-pci ", props)
    found = _complete("device_add driver=virtio-blk-pci ", replies)
    assert found[:2] == ["bus=", "id="] and "drive=" in found and "driver=" not in found
    assert "drive=" not in _complete("device_add driver=virtio-blk-pci drive=n0 ", replies)
    assert _complete("device_add driver=virtio-blk-pci dri", replies) == ["drive="]


def test_object_types_from_qemu_join_the_schemas_enum_once() -> None:
    types = [{"name": "memory-backend-ram"}, {"name": "x-only-live", "parent": "object"}]
    found = _complete("object-add qom-type=", _replies("object-add qom-type=", types))
    assert found.count("memory-backend-ram") == 1
    assert found[-1] == "x-only-live"  # after the schema's values


def test_quoted_qom_paths_keep_their_quote() -> None:
    before = 'qom-get path="/machine/per'
    machine = _call(LATEST, "qom-list", path="/machine")
    assert _complete(before, _replies(before, machine)) == [
        '"/machine/peripheral"',
        '"/machine/peripheral-anon"',
    ]


def test_hmp_commands_and_info_subcommands() -> None:
    assert _complete("co", _replies("co", HELP, hmp=True), hmp=True) == ["cont"]
    assert _complete("info bl", _replies("info bl", HELP_INFO, hmp=True), hmp=True) == [
        "block",
        "block-jobs",
    ]


def test_no_reply_means_no_live_candidates() -> None:
    assert _complete("device_del id=", {}) == []
    assert _complete("info ", {}, hmp=True) == []
    assert _complete("device_add driver=virtio-blk-pci ", {}) == ["bus=", "id="]


# -- Session.lookup: one quiet request per question per prompt, bounded wait


def _stub(
    answer: Callable[[Mapping[str, object]], Awaitable[dict[str, object]]],
) -> tuple[Lookups, StubTransport]:
    transport = StubTransport(answer)
    return Lookups(Session(transport)), transport


async def _echo(message: Mapping[str, object]) -> dict[str, object]:
    return {"return": [message.get("execute")]}


JOBS_QUESTION = Question("query-jobs")
TYPES_QUESTION = Question("qom-list-types", (("abstract", False),), lasting=True)


def test_ask_sends_arguments_quietly() -> None:
    async def body() -> None:
        lookups, transport = _stub(_echo)
        assert await lookups.session.ask("qom-list", {"path": "/"}) == ["qom-list"]
        assert transport.sent == [({"execute": "qom-list", "arguments": {"path": "/"}}, True)]

    asyncio.run(body())


def test_lookups_are_cached_until_a_command_runs_or_an_event_arrives() -> None:
    async def body() -> None:
        lookups, transport = _stub(_echo)
        assert lookups.looked_up(JOBS_QUESTION) is None  # not asked yet
        assert await lookups.lookup(JOBS_QUESTION) == ["query-jobs"]
        assert await lookups.lookup(JOBS_QUESTION) == ["query-jobs"]
        assert lookups.looked_up(JOBS_QUESTION) == ["query-jobs"]
        await lookups.lookup(TYPES_QUESTION)
        assert len(transport.sent) == 2
        stop = parse("stop")
        assert stop is not None
        await run(lookups.session, stop)  # any command may change what exists
        assert lookups.looked_up(JOBS_QUESTION) is None
        assert lookups.looked_up(TYPES_QUESTION) == ["qom-list-types"]  # types cannot
        await lookups.lookup(JOBS_QUESTION)
        transport.notify("recv", {"event": "JOB_STATUS_CHANGE", "data": {}})
        assert lookups.looked_up(JOBS_QUESTION) is None
        transport.notify("recv", {"return": {}})  # a reply is no reason
        assert lookups.looked_up(TYPES_QUESTION) is not None

    asyncio.run(body())


def test_a_failed_lookup_gives_none_and_no_exception() -> None:
    async def refuse(message: Mapping[str, object]) -> dict[str, object]:
        if message.get("execute") == "query-jobs":
            return {"error": {"class": "CommandNotFound", "desc": "no"}}
        raise ConnectionLost("stub: gone")

    async def body() -> None:
        lookups, _ = _stub(refuse)
        assert await lookups.lookup(JOBS_QUESTION) is None
        assert await lookups.lookup(TYPES_QUESTION) is None

    asyncio.run(body())


def test_a_stalled_lookup_is_waited_for_once_and_used_when_it_arrives() -> None:
    async def body() -> None:
        release = asyncio.Event()

        async def slow(message: Mapping[str, object]) -> dict[str, object]:
            await release.wait()
            return {"return": ["late"]}

        lookups, transport = _stub(slow)
        lookups.lookup_timeout = 0.2
        started = time.monotonic()
        assert await lookups.lookup(JOBS_QUESTION) is None
        assert 0.15 < time.monotonic() - started < 1.0
        started = time.monotonic()
        assert await lookups.lookup(JOBS_QUESTION) is None  # given up: no second wait
        assert time.monotonic() - started < 0.05
        assert len(transport.sent) == 1  # and no second request
        release.set()
        await until(lambda: lookups.looked_up(JOBS_QUESTION), "the late reply")
        assert await lookups.lookup(JOBS_QUESTION) == ["late"]

    asyncio.run(body())


def test_cancelling_the_completion_leaves_the_request_to_finish() -> None:
    async def body() -> None:
        release = asyncio.Event()

        async def slow(message: Mapping[str, object]) -> dict[str, object]:
            await release.wait()
            return {"return": ["done"]}

        lookups, transport = _stub(slow)
        waiting = asyncio.ensure_future(lookups.lookup(JOBS_QUESTION))
        await until(lambda: transport.sent, "the request")
        waiting.cancel()  # what prompt_toolkit does to a completion when the prompt ends
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await until(lambda: lookups.looked_up(JOBS_QUESTION), "the reply")
        assert lookups.looked_up(JOBS_QUESTION) == ["done"]
        assert len(transport.sent) == 1

    asyncio.run(body())


# -- against real QEMU


@pytest.fixture(scope="module")
def guest() -> Iterator[Qemu]:
    """q35 with a qcow2 node behind virtio-blk-pci disk0, a -drive backend drv1, a
    chardev ch0, an iothread io0, a hot-added memory backend mem1 and a mirror job job0
    (it stays ready)."""
    directory = short_tempdir()
    images = [str(directory / name) for name in ("a.qcow2", "b.qcow2")]
    for image in images:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"], check=True)
    vm = start_qemu(
        "-blockdev", f"driver=file,filename={images[0]},node-name=file0",
        "-blockdev", "driver=qcow2,file=file0,node-name=node0",
        "-device", "virtio-blk-pci,drive=node0,id=disk0",
        "-drive", f"if=none,id=drv1,file={images[1]},format=qcow2",
        "-chardev", "null,id=ch0",
        "-object", "iothread,id=io0",
        machine="q35",
    )  # fmt: skip
    try:
        raw = vm.client()
        raw.cmd("object-add", **{"qom-type": "memory-backend-ram", "id": "mem1", "size": 1 << 20})
        raw.cmd("blockdev-add", driver="null-co", size=16 << 20, **{"node-name": "tgt"})
        raw.cmd(
            "blockdev-mirror", **{"job-id": "job0", "device": "node0", "target": "tgt"}, sync="full"
        )
        wait_until(lambda: raw.cmd("query-jobs")[0]["status"] == "ready", "the mirror job ready")
        yield vm
    finally:
        vm.stop()
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def prompt_on(target: str) -> AsyncIterator[tuple[Lookups, PromptSession[str]]]:
    """A session that has learned the schema, and the prompt ``repl`` builds for it."""
    transport = QmpTransport(target)
    await transport.connect(5)
    try:
        session = Session(transport)
        await session.learn()
        renderer = rich_renderer(file=io.StringIO(), width=200)
        lookups = Lookups(session)
        with create_pipe_input() as keys:
            yield (
                lookups,
                prompt_module.make_prompt(
                    session,
                    renderer,
                    history=None,
                    input=keys,
                    output=DummyOutput(),
                    lookups=lookups,
                ),
            )
    finally:
        await transport.close()


async def offered(prompt: PromptSession[str], text: str) -> list[Completion]:
    """What the prompt's completer offers at the end of ``text``, the way the app asks."""
    assert prompt.completer is not None
    event = CompleteEvent(completion_requested=True)
    return [c async for c in prompt.completer.get_completions_async(Document(text), event)]


def texts(found: list[Completion]) -> list[str]:
    return [c.text for c in found]


NAMED_NODES = ["file0", "node0", "tgt"]

#: Stands for the containers under QOM's root, which vary with QEMU: read from QEMU itself.
QOM_ROOT = ["(QEMU's qom-list path=/)"]

LIVE_CASES: list[tuple[str, bool, list[str]]] = [
    ("block_resize node-name=", False, NAMED_NODES),
    ("blockdev-add driver=qcow2 node-name=", False, []),
    ("blockdev-add driver=qcow2 file=n", False, ["node0"]),
    ("block-stream device=", False, ["drv1", *NAMED_NODES]),
    ("eject device=", False, ["drv1"]),
    ("eject id=", False, ["/machine/peripheral/disk0/virtio-backend"]),
    ("device_del id=", False, ["disk0"]),
    ("qom-list path=", False, QOM_ROOT),
    ("qom-list path=/machine/peri", False, ["/machine/peripheral", "/machine/peripheral-anon"]),
    ('qom-get path="/machine/peripheral/', False, ['"/machine/peripheral/disk0"']),
    ("qom-get path=/machine/peripheral/disk0 property=dri", False, ["drive"]),
    ("device_add driver=virtio-blk-pci drive=n", False, ["node0"]),
    ("device_add driver=no-such-model ", False, ["bus=", "id="]),  # the lookup fails
    ("object-del id=m", False, ["mem1"]),
    ("chardev-remove id=ch", False, ["ch0"]),
    ("ringbuf-read device=c", False, ["ch0", "compat_monitor0", "compat_monitor1"]),
    ("job-cancel id=", False, ["job0"]),
    ("x-blockdev-set-iothread node-name=tgt iothread=", False, ["io0"]),
    ("device_add driver=virtio-blk-pci iothread=i", False, ["io0"]),
    ("block-job-complete device=", False, ["job0"]),
    ("info bl", True, ["block", "block-jobs", "blockstats"]),
    ("/hmp info bl", False, ["block", "block-jobs", "blockstats"]),
    ("device_del ", True, ["disk0"]),
    ("drive_del d", True, ["drv1"]),
    ("object_del m", True, ["mem1"]),
    ("block_job_cancel -f ", True, ["job0"]),
    ("qom-list /machine/peripheral/", True, ["/machine/peripheral/disk0"]),
    ("sto", True, ["stop", "stopcapture"]),
]


@pytest.mark.qemu
def test_live_values_from_a_real_guest(guest: Qemu) -> None:
    async def body() -> None:
        async with prompt_on(str(guest.qmp)) as (lookups, prompt):
            session = lookups.session
            root = guest.client().cmd("qom-list", path="/")
            containers = sorted(
                "/" + p["name"] for p in root if p["type"].startswith(("child<", "link<"))
            )
            assert "/machine" in containers
            for before, hmp, expected in LIVE_CASES:
                expected = containers if expected is QOM_ROOT else expected
                session.hmp_mode = hmp
                found = texts(await offered(prompt, before))
                named = [t for t in found if not t.startswith("#")]  # QEMU's generated names
                assert named == expected, before
            session.hmp_mode = False
            nodes = texts(await offered(prompt, "block_resize node-name="))
            assert nodes[:3] == NAMED_NODES and len(nodes) > 3
            assert all(n.startswith("#block") for n in nodes[3:])  # the mirror's, drv1's

    asyncio.run(body())


@pytest.mark.qemu
def test_drive_says_which_backends_a_real_guest_device_uses(guest: Qemu) -> None:
    async def body() -> None:
        async with prompt_on(str(guest.qmp)) as (_, prompt):
            found = await offered(prompt, "device_add driver=virtio-blk-pci drive=")
            metas = {c.text: c.display_meta_text for c in found}
            assert metas["node0"].endswith(", attached to disk0")
            assert "attached" not in metas["drv1"] and "attached" not in metas["tgt"]

    asyncio.run(body())


@pytest.mark.qemu
def test_device_models_properties_and_object_types_from_a_real_guest(guest: Qemu) -> None:
    async def body() -> None:
        async with prompt_on(str(guest.qmp)) as (_, prompt):
            models = texts(await offered(prompt, "device_add driver=virtio-blk-p"))
            assert "virtio-blk-pci" in models
            assert all(m.startswith("virtio-blk-p") for m in models)
            found = await offered(prompt, "device_add driver=virtio-blk-pci ")
            metas = {c.text: c.display_meta_text for c in found}
            assert texts(found)[:2] == ["bus=", "id="]
            assert metas["drive="] == "str" and metas["bootindex="] == "int32"
            types = texts(await offered(prompt, "object-add qom-type=memory-backend-"))
            assert {"memory-backend-ram", "memory-backend-file"} <= set(types)
            assert len(types) == len(set(types))
            hmp_models = texts(await offered(prompt, "/hmp device_add virtio-blk-p"))
            assert hmp_models == models
            # the sync path (no waiting) sees only what the async path already fetched
            assert prompt.completer is not None
            event = CompleteEvent(completion_requested=True)
            assert list(prompt.completer.get_completions(Document("device_del id="), event)) == []
            assert texts(await offered(prompt, "device_del id=")) == ["disk0"]
            again = prompt.completer.get_completions(Document("device_del id="), event)
            assert texts(list(again)) == ["disk0"]

    asyncio.run(body())


@pytest.mark.qemu
def test_tab_completes_a_live_value_while_typing(guest: Qemu) -> None:
    async def body() -> None:
        async with running_repl(guest) as r:
            r.type("device_del id=")
            await r.until(lambda: _menu(r) == ["disk0"], "the device id in the menu")
            r.type(TAB)
            await r.until(lambda: r.line == "device_del id=disk0", "Tab to take it")
            r.type(CTRL_C)
            await r.enter("/hmp", "HMP mode")
            r.type("info bl")
            await r.until(
                lambda: _menu(r) == ["block", "block-jobs", "blockstats"], "info subcommands"
            )
            r.type(CTRL_C + CTRL_D)
            assert await r.finish() == ExitStatus.OK

    asyncio.run(body())


@pytest.mark.qemu
def test_live_values_are_fresh_after_a_command_and_after_an_event(qemu: Qemu) -> None:
    async def body() -> None:
        raw = qemu.client()
        raw.cmd("object-add", **{"qom-type": "memory-backend-ram", "id": "mem1", "size": 1 << 20})
        async with running_repl(qemu) as r:
            r.type("object-del id=m")
            await r.until(lambda: _menu(r) == ["mem1"], "mem1 in the menu")
            r.type(CTRL_C)
            await r.enter("object-del id=mem1", "{}")
            raw.cmd(
                "object-add", **{"qom-type": "memory-backend-ram", "id": "mem2", "size": 1 << 20}
            )
            r.type("object-del id=m")
            await r.until(lambda: _menu(r) == ["mem2"], "the menu after the command")
            r.type(CTRL_C)
            # Nothing run and no event: this prompt's values stand (one lookup per prompt).
            raw.cmd(
                "object-add", **{"qom-type": "memory-backend-ram", "id": "mem3", "size": 1 << 20}
            )
            r.type("object-del id=m")
            await r.until(lambda: bool(_menu(r)), "the menu")
            assert _menu(r) == ["mem2"]
            r.type(CTRL_C)
            mark = len(r.output())
            await asyncio.to_thread(raw.cmd, "stop")  # an event: something changed
            await r.until(lambda: "STOP" in r.output()[mark:], "the STOP event")
            r.type("object-del id=m")
            await r.until(lambda: _menu(r) == ["mem2", "mem3"], "the menu after the event")
            r.type(CTRL_C + CTRL_D)
            assert await r.finish() == ExitStatus.OK

    asyncio.run(body())


# -- a server that never answers a lookup


async def _never(conn: Connection, request: dict[str, Any]) -> None:
    """Swallow the request: QEMU stuck on it (later requests are still answered)."""


def _fake_commands() -> dict[str, object]:
    replies = recording(LATEST)["replies"]
    return {
        "query-qmp-schema": replies["query-qmp-schema"],
        "query-commands": replies["query-commands"],
        "query-name": {"name": "fake"},
        "query-named-block-nodes": _never,
        "human-monitor-command": _never,
        "qom-list": _never,
    }


def test_a_stalled_server_does_not_hang_completion() -> None:
    with FakeServer(commands=_fake_commands()) as fake:

        async def body() -> None:
            async with prompt_on(str(fake.path)) as (lookups, prompt):
                session = lookups.session
                started = time.monotonic()
                assert await offered(prompt, "block_resize node-name=") == []
                assert lookups.lookup_timeout <= time.monotonic() - started < 1.5
                started = time.monotonic()
                assert await offered(prompt, "block_resize node-name=n") == []
                assert time.monotonic() - started < 0.2  # given up on: not waited for again
                # While that is unanswered nothing else is asked, or waited for; what the
                # schema knows is still offered.
                started = time.monotonic()
                found = await offered(prompt, "device_add driver=virtio-blk-pci ")
                assert texts(found) == ["bus=", "id="]
                assert await offered(prompt, "device_del id=") == []
                assert time.monotonic() - started < 0.2
                lookups.forget()  # the next prompt tries again, once
                session.hmp_mode = True
                started = time.monotonic()
                assert await offered(prompt, "info bl") == []
                assert lookups.lookup_timeout <= time.monotonic() - started < 1.5
                session.hmp_mode = False
                reply = await run_text(session, "query-name")
                assert isinstance(reply, Reply) and reply.value == {"name": "fake"}

        asyncio.run(body())
        asked = [r["execute"] for r in fake.received]
        assert asked.count("query-named-block-nodes") == 1
        assert asked.count("human-monitor-command") == 1
        assert "qom-list" not in asked and "device-list-properties" not in asked


def test_typing_goes_on_while_a_lookup_stalls() -> None:
    with FakeServer(commands=_fake_commands()) as fake:

        async def body() -> None:
            async with running_repl(cast(Qemu, SimpleNamespace(qmp=fake.path))) as r:
                r.lookups.lookup_timeout = 5.0
                r.type("device_del id=")
                await r.until(lambda: r.line == "device_del id=", "the line")
                await asyncio.sleep(0.1)  # the completion is now waiting for qom-list
                started = time.monotonic()
                r.type("disk0")
                await r.until(lambda: r.line == "device_del id=disk0", "keys typed meanwhile")
                assert time.monotonic() - started < 1.0
                r.type(CTRL_C + CTRL_D)
                assert await r.finish() == ExitStatus.OK

        asyncio.run(body())
        assert [r["execute"] for r in fake.received].count("qom-list") == 1


def test_the_menu_opens_when_the_schema_arrives_after_typing_began() -> None:
    """A slow schema: what was typed before it came is completed once it has, unasked."""
    commands = _fake_commands()
    schema = commands["query-qmp-schema"]

    async def slow_schema(conn: Connection, request: dict[str, Any]) -> None:
        await asyncio.sleep(1.0)
        await conn.reply(request, schema)

    commands["query-qmp-schema"] = slow_schema
    with FakeServer(commands=commands) as fake:

        async def body() -> None:
            qemu = cast(Qemu, SimpleNamespace(qmp=fake.path))
            async with running_repl(qemu, learn=False) as r:
                r.type("query-sta")
                await r.until(lambda: r.line == "query-sta", "the line")
                assert r.session.index is None and r.menu() == []  # nothing known yet
                await r.until(lambda: "query-status" in r.menu(), "the menu, no key pressed")
                r.type(CTRL_C + CTRL_D)
                assert await r.finish() == ExitStatus.OK

        asyncio.run(body())
