"""Live completion values: what to ask the running QEMU, and what to offer from the reply.

The schema says device_add's ``driver`` is a ``str``; only the running QEMU knows
which models it has, which block nodes exist or what lives under ``/machine``.
A rule maps a position (command and dotted key, or an HMP command) to sources;
a source makes a ``Want``: one quiet question (the session sends and caches it)
and a pure extractor from its reply to ``(text, meta)`` values, so every
extractor is tested on recorded replies. Nothing here does I/O, and every
extractor is total: a reply of the wrong shape gives no values, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from qmpsh.language import completion as ctx_
from qmpsh.language.completion import Context
from qmpsh.language.schema import SchemaIndex

Value = tuple[str, str]  # (text, meta)


@dataclass(frozen=True)
class Question:
    """One command qmpsh asks for completion; hashable, so it is the cache key."""

    command: str
    arguments: tuple[tuple[str, str | bool], ...] = ()
    #: The answer cannot change while connected (types, HMP help): kept past the prompt.
    lasting: bool = False

    def args(self) -> dict[str, object]:
        return dict(self.arguments)


@dataclass(frozen=True)
class Want:
    question: Question
    extract: Callable[[object], list[Value]]
    #: Its values are notes on names other wants offer (``attached to disk0``), not names.
    notes: bool = False


Source = Callable[[Context, SchemaIndex | None], Want | None]


# -- extractors (pure, on the reply's return value) ------------------------------


def _dicts(reply: object) -> list[Mapping[str, object]]:
    return [i for i in reply if isinstance(i, Mapping)] if isinstance(reply, list) else []


def _str(item: Mapping[str, object], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def node_names(reply: object) -> list[Value]:
    """query-named-block-nodes: named nodes first, QEMU's ``#block123`` ones last."""
    found = []
    for node in _dicts(reply):
        name, file = _str(node, "node-name"), _str(node, "file")
        meta = f"{_str(node, 'drv') or 'block'} node"
        if file and not file.startswith("json:"):
            meta += ", " + file.rsplit("/", 1)[-1]
        if name:
            found.append((name, meta))
    return sorted(found, key=lambda v: (v[0].startswith("#"), v[0]))


def block_backends(reply: object) -> list[Value]:
    """query-block: named backends (``-drive id=``; empty for ``-blockdev`` + ``-device``)."""
    found = []
    for dev in _dicts(reply):
        inserted = dev.get("inserted")
        drv = _str(inserted, "drv") if isinstance(inserted, Mapping) else ""
        if name := _str(dev, "device"):
            found.append((name, "block backend" + (f", {drv}" if drv else ", empty")))
    return sorted(found)


def guest_block_devices(reply: object) -> list[Value]:
    """query-block ``qdev``: the guest devices that eject / tray / throttle ``id=`` take."""
    found = []
    for dev in _dicts(reply):
        inserted = dev.get("inserted")
        node = _str(inserted, "node-name") if isinstance(inserted, Mapping) else ""
        if qdev := _str(dev, "qdev"):
            found.append((qdev, "guest device" + (f", {node}" if node else ", empty")))
    return sorted(found)


def attachments(reply: object) -> list[Value]:
    """query-block: the backends and root nodes a guest device already uses, as notes.

    The ``qdev`` of a device given an id is ``/machine/peripheral/ID/...``: ID is shown.
    """
    found = []
    for dev in _dicts(reply):
        qdev = _str(dev, "qdev")
        if not qdev:
            continue
        if qdev.startswith("/machine/peripheral/"):
            qdev = qdev.split("/")[3]
        inserted = dev.get("inserted")
        node = _str(inserted, "node-name") if isinstance(inserted, Mapping) else ""
        found += [(name, f"attached to {qdev}") for name in (_str(dev, "device"), node) if name]
    return sorted(found)


def qom_children(reply: object, prefix: str) -> list[Value]:
    """qom-list: the ``child<>`` and ``link<>`` properties, as paths under ``prefix``."""
    found = []
    for prop in _dicts(reply):
        name, kind = _str(prop, "name"), _str(prop, "type")
        if name and kind.startswith(("child<", "link<")):
            found.append((prefix + name, kind))
    return sorted(found)


def qom_properties(reply: object) -> list[Value]:
    """qom-list: every property (for qom-get / qom-set ``property=``)."""
    return sorted((_str(p, "name"), _str(p, "type")) for p in _dicts(reply) if _str(p, "name"))


def type_names(reply: object) -> list[Value]:
    """qom-list-types: names, with the parent type (which says the bus: pci, usb ...)."""
    return sorted((_str(t, "name"), _str(t, "parent")) for t in _dicts(reply) if _str(t, "name"))


def device_properties(reply: object) -> list[Value]:
    """device-list-properties, as argument names (``drive=``) with their type."""
    return sorted(
        (_str(p, "name") + "=", _str(p, "type")) for p in _dicts(reply) if _str(p, "name")
    )


_QTREE_BUS = re.compile(r"\s*bus: (\S+)")


def qtree_buses(reply: object) -> list[Value]:
    """HMP ``info qtree``: every bus by name (``pci.0``), with its type (the line after).

    The one listing of the buses that exist; QMP has none (query-pci numbers PCI
    buses only, qom-list would be a walk over the whole tree).
    """
    if not isinstance(reply, str):
        return []
    lines = reply.splitlines()
    found: dict[str, str] = {}
    for at, line in enumerate(lines):
        match = _QTREE_BUS.fullmatch(line.rstrip())
        if match:
            after = lines[at + 1].strip() if at + 1 < len(lines) else ""
            kind = after[len("type ") :] + " bus" if after.startswith("type ") else "bus"
            found.setdefault(match.group(1), kind)
    return sorted(found.items())


def chardev_labels(reply: object) -> list[Value]:
    return sorted(
        (_str(c, "label"), _str(c, "filename")) for c in _dicts(reply) if _str(c, "label")
    )


def job_ids(reply: object) -> list[Value]:
    """query-jobs: ids, with the job's type and status."""
    return sorted(
        (_str(j, "id"), f"{_str(j, 'type')} job, {_str(j, 'status')}")
        for j in _dicts(reply)
        if _str(j, "id")
    )


def iothread_ids(reply: object) -> list[Value]:
    """query-iothreads: ids, with the host thread each runs on."""
    found = []
    for thread in _dicts(reply):
        tid = thread.get("thread-id")
        meta = f"iothread, host thread {tid}" if isinstance(tid, int) else "iothread"
        if name := _str(thread, "id"):
            found.append((name, meta))
    return sorted(found)


_HMP_LINE = re.compile(r"([a-z_][\w|?-]*)(?:\s.*?)?(?:\s--\s+(.*))?", re.ASCII)


def hmp_names(reply: object, prefix: str = "") -> list[Value]:
    """Names from HMP ``help`` (``cont|c  -- resume emulation``) or ``help info``.

    Continuation lines start with a blank or ``[``; aliases after ``|`` are names too.
    """
    if not isinstance(reply, str):
        return []
    found = []
    for line in reply.splitlines():
        if not line.startswith(prefix):
            continue
        match = _HMP_LINE.fullmatch(line[len(prefix) :].rstrip())
        if match:
            about = (match.group(2) or "").strip()
            found += [(name, about) for name in match.group(1).split("|") if name]
    return sorted(found)  # QEMU's order puts "stopcapture" before "stop|s"


# -- sources: a context (and the schema) to a Want ------------------------------


def _nodes(ctx: Context, index: SchemaIndex | None) -> Want:
    # flat (QEMU 5.0+) leaves out each node's backing chain: a smaller, cheaper reply.
    flat = index is not None and any(
        m.name == "flat" for m in index.arguments("query-named-block-nodes")
    )
    return Want(Question("query-named-block-nodes", (("flat", True),) if flat else ()), node_names)


def _fixed(
    question: Question, extract: Callable[[object], list[Value]], *, notes: bool = False
) -> Source:
    """A source that asks the same question wherever it applies."""
    want = Want(question, extract, notes)
    return lambda ctx, index: want


def _qom_paths(ctx: Context, index: SchemaIndex | None) -> Want | None:
    """Step by step on ``/``: the children of the path typed up to its last ``/``."""
    word = ctx.word.lstrip("\"'")
    if word and not word.startswith("/"):
        return None  # a partial path (QEMU resolves "disk0" anywhere): nothing to list
    prefix = word[: word.rfind("/") + 1] or "/"
    parent = prefix.rstrip("/") or "/"
    return Want(Question("qom-list", (("path", parent),)), lambda r: qom_children(r, prefix))


def _qom_properties(ctx: Context, index: SchemaIndex | None) -> Want | None:
    path = ctx.given.get("path")
    if not isinstance(path, str) or not path:
        return None
    return Want(Question("qom-list", (("path", path),)), qom_properties)


def _device_properties(ctx: Context, index: SchemaIndex | None) -> Want | None:
    driver = ctx.given.get("driver")
    if not isinstance(driver, str) or not driver:
        return None
    question = Question("device-list-properties", (("typename", driver),), lasting=True)
    return Want(question, device_properties)


def _hmp_help(topic: str, prefix: str = "") -> Source:
    question = Question("human-monitor-command", (("command-line", topic),), lasting=True)
    return _fixed(question, lambda r: hmp_names(r, prefix))


def _types(implements: str | None, *, abstract: bool = False) -> Source:
    """qom-list-types (``implements``: only types of that kind; ``abstract``: those too)."""
    arguments: tuple[tuple[str, str | bool], ...] = (("abstract", abstract),)
    if implements:
        arguments = (("implements", implements), *arguments)
    return _fixed(Question("qom-list-types", arguments, lasting=True), type_names)


def _children(path: str) -> Source:
    return _fixed(Question("qom-list", (("path", path),)), lambda r: qom_children(r, ""))


NODES: Source = _nodes
BACKENDS = _fixed(Question("query-block"), block_backends)
GUEST_BLOCK = _fixed(Question("query-block"), guest_block_devices)
ATTACHED = _fixed(Question("query-block"), attachments, notes=True)
DEVICES = _children("/machine/peripheral")
OBJECTS = _children("/objects")
MODELS = _types("device")
OBJECT_TYPES = _types("user-creatable")
QOM_TYPES = _types(None, abstract=True)  # qom-list-properties takes abstract types too
BUSES = _fixed(Question("human-monitor-command", (("command-line", "info qtree"),)), qtree_buses)
CHARDEVS = _fixed(Question("query-chardev"), chardev_labels)
JOBS = _fixed(Question("query-jobs"), job_ids)
IOTHREADS = _fixed(Question("query-iothreads"), iothread_ids)
QOM_PATHS: Source = _qom_paths
HMP_COMMANDS = _hmp_help("help")
HMP_INFO = _hmp_help("help info", "info ")

_TRAY = "eject blockdev-open-tray blockdev-close-tray blockdev-*-medium blockdev-change-medium"

#: (commands, dotted keys, sources): space-separated globs; the first match wins.
VALUE_RULES: tuple[tuple[str, str, tuple[Source, ...]], ...] = (
    ("blockdev-add drive-mirror", "node-name", ()),  # names the node to be created
    ("blockdev-add", "file backing data-file *.file *.backing", (NODES,)),
    ("block-job-*", "device id", (JOBS,)),
    ("job-*", "id", (JOBS,)),
    ("chardev-remove chardev-change chardev-send-break", "id", (CHARDEVS,)),
    ("ringbuf-read ringbuf-write", "device", (CHARDEVS,)),
    ("device_add", "chardev", (CHARDEVS,)),
    ("device_add", "drive", (BACKENDS, NODES, ATTACHED)),
    ("device_add", "driver", (MODELS,)),
    ("device_add", "bus", (BUSES,)),
    ("device-list-properties", "typename", (MODELS,)),
    ("qom-list-properties", "typename", (QOM_TYPES,)),
    ("device_del", "id", (DEVICES,)),
    ("input-send-event screendump", "device", (DEVICES,)),
    ("object-add", "qom-type", (OBJECT_TYPES,)),
    ("object-del", "id", (OBJECTS,)),
    ("qom-list qom-get qom-set", "path", (QOM_PATHS,)),
    ("qom-get qom-set", "property", (_qom_properties,)),
    (_TRAY + " block_set_io_throttle block-latency-histogram-set", "id", (GUEST_BLOCK,)),
    (_TRAY + " block_set_io_throttle", "device", (BACKENDS,)),
    ("blockdev-backup blockdev-mirror", "target", (NODES,)),
    ("*", "iothread iothread.*", (IOTHREADS,)),  # a device's, an export's, a node's
    ("*", "device", (BACKENDS, NODES)),  # block commands: a backend or a node name
    ("*", "node-name node base-node top-node overlay replaces parent", (NODES,)),
)

#: HMP commands whose first argument HMP itself completes, as in QEMU's monitor.
HMP_RULES: tuple[tuple[str, tuple[Source, ...]], ...] = (
    ("device_del", (DEVICES,)),
    ("drive_del block_resize block_stream commit", (BACKENDS, NODES)),
    ("eject change", (BACKENDS,)),
    ("block_job_*", (JOBS,)),
    ("device_add", (MODELS,)),
    ("object_add", (OBJECT_TYPES,)),
    ("object_del", (OBJECTS,)),
    ("chardev-remove chardev-change chardev-send-break ringbuf_*", (CHARDEVS,)),
    ("qom-list qom-get qom-set", (QOM_PATHS,)),
)


def _matches(globs: str, name: str) -> bool:
    return any(fnmatchcase(name, glob) for glob in globs.split())


def sources(ctx: Context) -> tuple[Source, ...]:
    """Which sources of live values fit ``ctx`` (none for most positions)."""
    if ctx.kind == ctx_.VALUE:
        key = ".".join(ctx.path)
        for commands, keys, found in VALUE_RULES:
            if _matches(commands, ctx.command) and _matches(keys, key):
                return found
    elif ctx.kind == ctx_.ARGUMENT and ctx.command == "device_add" and not ctx.path:
        return (_device_properties,)
    elif ctx.kind == ctx_.HMP:
        return _hmp_sources(ctx)
    return ()


def _hmp_sources(ctx: Context) -> tuple[Source, ...]:
    if not ctx.words or ctx.words in (("help",), ("?",)):
        return (HMP_COMMANDS,)
    if ctx.words == ("info",):
        return (HMP_INFO,)
    arguments = [w for w in ctx.words[1:] if not w.startswith("-")]
    if arguments or ctx.word.startswith("-") or "," in ctx.word:
        return ()  # HMP completes the first argument only; device_add X,prop=... is free-form
    for commands, found in HMP_RULES:
        if _matches(commands, ctx.words[0]):
            return found
    return ()


def wanted(ctx: Context, index: SchemaIndex | None) -> list[Want]:
    """The questions to ask for ``ctx``, each with its extractor."""
    return [want for source in sources(ctx) if (want := source(ctx, index)) is not None]
