"""Tab at the prompt, as readline users expect it: a real PromptSession on real QEMU.

The longest common prefix first, the menu when nothing more is common, a taken
``key=`` followed by that key's values; and a Tab typed in one burst with the
characters before it completes all of them.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tests.support.qemu import Qemu
from tests.support.repldriver import CTRL_D, TAB, Repl, running_repl

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def _line_is(r: Repl, expected: str) -> Callable[[], bool]:
    return lambda: r.line == expected


async def _clear(r: Repl) -> None:
    r.type("\x1b\x15")  # Escape closes the menu, Ctrl-U clears the line
    await r.until(lambda: r.line == "" and r.menu() == [], "the line to clear")


def test_tab_inserts_the_common_prefix_then_steps_into_the_menu(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("device_add driver=virtio-bl")
            await r.until(lambda: "virtio-blk-pci" in r.menu(), "the models menu")
            r.type(TAB)
            await r.until(lambda: r.line.endswith("virtio-blk-"), "the common prefix")
            assert r.line == "device_add driver=virtio-blk-"
            assert r.selected() is None  # nothing chosen for the user
            await r.until(lambda: "virtio-blk-pci" in r.menu(), "the menu for the prefix")
            r.type(TAB)  # nothing more is common: Tab steps into the menu
            await r.until(lambda: r.selected() is not None, "a model selected")
            assert r.line == "device_add driver=" + str(r.selected())
            await _clear(r)

            r.type("blockdev-add driver=qc")
            await r.until(lambda: r.menu() == ["qcow", "qcow2"], "qcow and qcow2")
            r.type(TAB)
            await r.until(lambda: r.line == "blockdev-add driver=qcow", "the common prefix")
            await r.until(lambda: r.menu() == ["qcow", "qcow2"], "both still offered")
            assert r.selected() is None  # qcow2 is one key away, not replaced by qcow
            await _clear(r)
            r.type(CTRL_D)
            await r.finish()

    run(body())


def test_tab_after_a_key_offers_its_values_not_the_next_key(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("blockdev-add ")
            await r.until(lambda: "driver=" in r.menu(), "the keys menu")
            r.type(TAB)
            await r.until(lambda: r.selected() == "driver=", "the first key selected")
            assert r.line == "blockdev-add driver="
            r.type(TAB)
            await r.until(lambda: "qcow2" in r.menu(), "the driver's values")
            assert r.line == "blockdev-add driver=" and r.selected() is None
            r.type(TAB)
            await r.until(lambda: r.selected() is not None, "a driver selected")
            assert r.line == "blockdev-add driver=" + str(r.selected())
            await _clear(r)
            r.type(CTRL_D)
            await r.finish()

    run(body())


def test_a_tab_in_one_write_with_the_text_before_it_completes_all_of_it(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            for typed, completed in [
                ("query-statu" + TAB, "query-status"),
                ("device_add driver=virtio-bl" + TAB, "device_add driver=virtio-blk-"),
                (
                    "blockdev-add driver=qcow2 file.dr" + TAB,
                    "blockdev-add driver=qcow2 file.driver=",
                ),
            ]:
                r.type(typed)  # one write: the keys arrive together, as from a script or ssh
                await r.until(_line_is(r, completed), f"{completed!r} from {typed!r}")
                await _clear(r)
            r.type(CTRL_D)
            await r.finish()

    run(body())


def test_tab_completes_transaction_actions_and_qemu_runs_them(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("transaction(\r")  # open: Enter goes on to the next line
            await r.until(lambda: r.line == "transaction(\n", "the next line of the transaction")
            r.type("ab")
            await r.until(lambda: r.menu() == ["abort"], "the abort action offered")
            r.type(TAB)
            await r.until(lambda: r.line == "transaction(\nabort", "abort taken")
            shown = await r.enter("\r)", "abort")  # QEMU refuses the whole transaction
            assert r.sent_commands()[-1] == "transaction"
            assert r.sent[-1]["arguments"] == {"actions": [{"type": "abort", "data": {}}]}, shown
            r.type(CTRL_D)
            await r.finish()

    run(body())


def test_tab_completes_a_host_path_for_filename_and_qemu_opens_it(
    qemu: Qemu, tmp_path: Path
) -> None:
    (tmp_path / "disk.img").write_bytes(b"\0" * 65536)
    (tmp_path / "images").mkdir()

    async def body() -> None:
        async with running_repl(qemu) as r:
            line = f"blockdev-add node-name=tabfile driver=file filename={tmp_path}/"
            r.type(line + "d" + TAB)
            await r.until(_line_is(r, f"{line}disk.img"), "the file completed")
            r.type("\r")
            await r.until(lambda: r.sent_commands()[-1:] == ["blockdev-add"], "blockdev-add")
            assert r.sent[-1]["arguments"] == {
                "node-name": "tabfile",
                "driver": "file",
                "filename": f"{tmp_path}/disk.img",
            }
            shown = await r.enter("query-named-block-nodes", "tabfile")
            assert "disk.img" in shown
            await _clear(r)
            r.type(f"drive-mirror target='{tmp_path}/i" + TAB)  # quoted: left open
            await r.until(_line_is(r, f"drive-mirror target='{tmp_path}/images/"), "the dir")
            await _clear(r)
            r.type(CTRL_D)
            await r.finish()

    run(body())


def test_tab_completes_keys_inside_an_inline_json_value_and_qemu_takes_it(
    qemu: Qemu, tmp_path: Path
) -> None:
    image = tmp_path / "j.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1M"], check=True)

    async def body() -> None:
        async with running_repl(qemu) as r:
            line = "blockdev-add node-name=inj driver=qcow2 file={"
            r.type(line + '"dr' + TAB)
            await r.until(_line_is(r, line + '"driver'), "file's driver key")
            line += '"driver": "file", '
            r.type('": "file", "fi' + TAB)
            await r.until(_line_is(r, line + '"filename'), "the file driver's filename key")
            r.type(f'": "{image}"}}\r')
            await r.until(lambda: r.sent_commands()[-1:] == ["blockdev-add"], "blockdev-add")
            file = {"driver": "file", "filename": str(image)}
            assert r.sent[-1]["arguments"] == {"node-name": "inj", "driver": "qcow2", "file": file}
            assert "j.qcow2" in await r.enter("query-named-block-nodes", "inj")
            r.type(CTRL_D)
            await r.finish()

    run(body())
