"""Live completion of QOM type names (``typename=``) and of the buses that exist
(device_add ``bus=``): the rules and the ``info qtree`` extractor on a recorded
reply, and the values offered by the prompt's completer on real QEMU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document

from qmpsh.language import live_values as live
from qmpsh.language.completion import context
from tests.support.corpus import index
from tests.support.qemu import Qemu, start_qemu
from tests.support.repldriver import Repl, running_repl

pytestmark = pytest.mark.every_qemu

LATEST = "qemu-7.2.22-x86_64.json.gz"

# Recorded from QEMU 7.2.22, q35 with pcie-root-port rp1 and virtio-scsi-pci scsi0 on it;
# trimmed (devices' properties left out).
QTREE = """\
bus: main-system-bus
  type System
  dev: q35-pcihost, id ""
    bus: pcie.0
      type PCIE
      dev: pcie-root-port, id "rp1"
        bus: rp1
          type PCIE
          dev: virtio-scsi-pci, id "scsi0"
            bus: virtio-bus
              type virtio-pci-bus
              dev: virtio-scsi-device, id ""
                bus: scsi0.0
                  type SCSI
      dev: virtio-rng-pci, id ""
        bus: virtio-bus
          type virtio-pci-bus
"""


def test_qtree_buses_are_named_once_with_their_type() -> None:
    assert live.qtree_buses(QTREE) == [
        ("main-system-bus", "System bus"),
        ("pcie.0", "PCIE bus"),
        ("rp1", "PCIE bus"),
        ("scsi0.0", "SCSI bus"),
        ("virtio-bus", "virtio-pci-bus bus"),
    ]
    assert live.qtree_buses(None) == [] and live.qtree_buses("bus: x") == [("x", "bus")]


def _asks(before: str) -> list[tuple[str, dict[str, object]]]:
    wants = live.wanted(context(before), index(LATEST))
    return [(w.question.command, w.question.args()) for w in wants]


@pytest.mark.parametrize(
    ("before", "asks"),
    [
        ("device-list-properties typename=", [
            ("qom-list-types", {"implements": "device", "abstract": False}),
        ]),
        ("qom-list-properties typename=mem", [("qom-list-types", {"abstract": True})]),
        ("device_add driver=virtio-blk-pci bus=", [
            ("human-monitor-command", {"command-line": "info qtree"}),
        ]),
    ],
)  # fmt: skip
def test_rules(before: str, asks: list[tuple[str, dict[str, object]]]) -> None:
    assert _asks(before) == asks


@pytest.fixture(scope="module")
def guest() -> Iterator[Qemu]:
    vm = start_qemu(
        "-device", "pcie-root-port,id=rp1,chassis=1",
        "-device", "virtio-scsi-pci,id=scsi0,bus=rp1",
        machine="q35",
    )  # fmt: skip
    try:
        yield vm
    finally:
        vm.stop()


async def _offered(r: Repl, text: str) -> list[Completion]:
    assert r.prompt.completer is not None
    event = CompleteEvent(completion_requested=True)
    return [c async for c in r.prompt.completer.get_completions_async(Document(text), event)]


async def _texts(r: Repl, text: str) -> list[str]:
    return [c.text for c in await _offered(r, text)]


@pytest.mark.qemu
def test_type_names_and_buses_from_a_real_guest(guest: Qemu) -> None:
    async def body() -> None:
        async with running_repl(guest) as r:
            models = await _texts(r, "device-list-properties typename=virtio-blk-p")
            assert "virtio-blk-pci" in models and all(m.startswith("virtio-") for m in models)
            assert "device" not in await _texts(r, "device-list-properties typename=dev")
            types = await _texts(r, "qom-list-properties typename=memory-backend")
            assert {"memory-backend", "memory-backend-ram"} <= set(types)  # abstract ones too
            buses = {c.text: c.display_meta_text for c in await _offered(r, "device_add bus=")}
            assert {"pcie.0", "rp1", "scsi0.0"} <= set(buses)
            assert buses["scsi0.0"] == "SCSI bus"
            assert await _texts(r, "device_add driver=scsi-hd bus=scs") == ["scsi0.0"]

    asyncio.run(body())
