"""What libvirt hands back is QEMU's reply text, read by the rule every transport reads
messages by (transport/messages.py): ``NaN`` as ``null``, nesting no decoder survives
and a reply that is no QMP message as one line that ends the session.

libvirt re-encodes QEMU's replies with its own JSON library, so neither it nor QEMU
sends these on demand: the binding is replaced by one that returns the text given.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from qmpsh.errors import ConnectionLost
from qmpsh.transport import libvirt
from qmpsh.transport.interface import Observers


class LibvirtError(Exception):
    pass


def answering(text: str) -> libvirt.LibvirtTransport:
    """A transport whose domain's monitor answers every command with ``text``."""
    fake_libvirt = SimpleNamespace(libvirtError=LibvirtError)
    fake_qemu = SimpleNamespace(qemuMonitorCommand=lambda dom, command, flags: text)
    transport = object.__new__(libvirt.LibvirtTransport)
    transport.__dict__.update(
        target="qemu:///system/vm",
        _observers=Observers(),
        _libvirt=fake_libvirt,
        _qemu=fake_qemu,
        _dom=object(),
        _reason="",
        _closed=None,
        _loop=None,
    )
    return transport


def test_nan_in_a_reply_is_null() -> None:
    transport = answering('{"return": {"rate": NaN, "big": -Infinity}}')
    reply = asyncio.run(transport.execute({"execute": "query-x", "id": "mine"}))
    assert reply == {"return": {"rate": None, "big": None}, "id": "mine"}


def test_nan_in_an_events_data_is_null() -> None:
    transport = answering("")
    seen: list[object] = []

    async def body() -> None:
        transport._loop = asyncio.get_running_loop()
        transport.observe(lambda direction, msg: seen.append(msg))
        transport._on_event(None, None, "X", 1, 2, '{"v": NaN}', None)
        await asyncio.sleep(0)  # the event is handed over on the loop's next turn

    asyncio.run(body())
    assert seen == [
        {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "X", "data": {"v": None}}
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ("[1, 2]", "a message that is not a JSON object ('[1, 2]')"),
        ('{"x": 1}', "a message with no return, error or event"),
    ],
)
def test_a_reply_that_is_no_message_is_one_line_and_the_end(text: str, said: str) -> None:
    transport = answering(text)
    with pytest.raises(ConnectionLost) as lost:
        asyncio.run(transport.execute({"execute": "query-x"}))
    line = str(lost.value)
    assert line.startswith("qemu:///system/vm: ") and said in line and "\n" not in line
    with pytest.raises(ConnectionLost) as again:  # nothing after it can be trusted
        asyncio.run(transport.execute({"execute": "query-x"}))
    assert str(again.value) == line
