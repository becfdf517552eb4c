"""Tab in a real terminal (tmux runs ``python -m qmpsh`` on real QEMU): the common
prefix first, then the menu; a taken ``key=`` goes on to its values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.qemu import Qemu
from tests.support.tmux import PROMPT, Terminal, below_prompt, prompt_line

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def _start(terminal: Terminal, qemu: Qemu, state: Path) -> None:
    terminal.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(state)})
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")


def _menu(screen: str) -> list[str]:
    return [line.split()[0] for line in below_prompt(screen)]


def _line_is(expected: str) -> Callable[[str], bool]:
    return lambda screen: prompt_line(screen) == PROMPT + expected


def _clear(terminal: Terminal) -> None:
    terminal.press("Escape", "C-u")
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the line cleared")


def test_tab_completes_the_common_prefix_then_the_menu(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    _start(terminal, qemu, tmp_path)
    terminal.type("device_add driver=virtio-bl")
    terminal.wait_for(lambda s: "virtio-blk-pci" in _menu(s), "the models menu")
    terminal.press("Tab")
    terminal.wait_for(
        lambda s: prompt_line(s) == PROMPT + "device_add driver=virtio-blk-", "the common prefix"
    )
    terminal.press("Tab")  # nothing more is common: Tab steps into the menu
    screen = terminal.wait_for(
        lambda s: (
            prompt_line(s).startswith(PROMPT + "device_add driver=virtio-blk-")
            and prompt_line(s) != PROMPT + "device_add driver=virtio-blk-"
        ),
        "a model taken from the menu",
    )
    assert prompt_line(screen).split("=")[1] in _menu(screen)
    _clear(terminal)

    terminal.type("blockdev-add ")
    terminal.wait_for(lambda s: "driver=" in _menu(s), "the keys menu")
    terminal.press("Tab")
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT + "blockdev-add driver=", "driver=")
    terminal.press("Tab")
    screen = terminal.wait_for(lambda s: "blkdebug" in _menu(s), "the driver's values")
    assert prompt_line(screen) == PROMPT + "blockdev-add driver="  # not the next key
    _clear(terminal)
    terminal.press("C-d")
    assert terminal.exit_status() == 0


def test_a_tab_sent_with_the_text_before_it_completes_all_of_it(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    _start(terminal, qemu, tmp_path)
    for typed, completed in [
        ("query-statu\t", "query-status"),
        ("device_add driver=virtio-bl\t", "device_add driver=virtio-blk-"),
        ("blockdev-add driver=qcow2 file.dr\t", "blockdev-add driver=qcow2 file.driver="),
    ]:
        terminal.type(typed)  # one send-keys: the characters and the Tab in one burst
        terminal.wait_for(_line_is(completed), repr(completed))
        _clear(terminal)
    terminal.press("C-d")
    assert terminal.exit_status() == 0
