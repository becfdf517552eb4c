"""Schema completion in a real terminal: ``blockdev-add driver=qcow2 file.`` under tmux.

What goes beyond the pipe-driven REPL tests: the completion menu as
drawn for the nested members of a union (``file.`` offers ``driver=``, and
``filename=`` only once ``file.driver=file`` is typed), Tab taking a
candidate, the line so built running against a real QEMU (the node exists, as
the spare monitor sees), and a wrong enum value stopped before sending, with
one line and a caret under the token. The machinery is ``tests/support/tmux.py``: a
private tmux server, and waits on what the screen shows, each with a deadline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.qemu import Qemu
from tests.support.tmux import PROMPT, Terminal, below_prompt, prompt_line

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]

#: Wide enough that the whole blockdev-add line, with the image's path, never wraps.
WIDTH = 220


def menu(screen: str) -> list[str]:
    """The candidates in the completion menu, as drawn (their meta column left out)."""
    return [line.split()[0] for line in below_prompt(screen)]


def menu_line(screen: str, candidate: str) -> str:
    """The whole menu line of ``candidate``: the name and its type, required or optional."""
    return next(line for line in below_prompt(screen) if line.split()[0] == candidate)


def nodes(qemu: Qemu) -> dict[str, dict[str, object]]:
    found = qemu.client().cmd("query-named-block-nodes")
    return {node["node-name"]: node for node in found}


def test_nested_union_completion_then_blockdev_add_in_a_real_terminal(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    term = terminal
    assert qemu.image is not None
    before = nodes(qemu)
    term.start_qmpsh(
        str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path / "state")}, width=WIDTH, height=50
    )
    term.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt with the VM name")

    # The schema is learned in the background: wait for an enum value the schema alone knows.
    line = "blockdev-add driver=qc"
    term.type(line)

    def retype() -> None:
        term.press("BSpace")
        term.type("c")

    # The completer runs on keystrokes: if the schema arrives after the last one, the
    # menu stays as it was until the next.
    screen = term.wait_for(
        lambda s: prompt_line(s) == PROMPT + line and "qcow2" in menu(s),
        "the schema: qcow2 offered for driver=",
        nudge=retype,
    )
    assert menu(screen) == ["qcow", "qcow2"]

    # file. is a BlockdevRef: its members are BlockdevOptions' base, driver= first.
    term.type("ow2 file.")
    line = "blockdev-add driver=qcow2 file."
    screen = term.wait_for(
        lambda s: prompt_line(s) == PROMPT + line and "driver=" in menu(s),
        "the members of file.",
    )
    offered = menu(screen)
    assert offered[0] == "driver=" and "required" in menu_line(screen, "driver=")
    assert {"node-name=", "cache.", "read-only="} <= set(offered)
    assert "filename=" not in offered  # the file driver's member: not before file.driver=file
    assert "file." not in offered

    # Tab completes a unique candidate, at each step: file.dr -> file.driver= -> file.
    term.type("dr")
    line += "dr"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line and menu(s) == ["driver="], "dr")
    term.press("Tab")
    line = "blockdev-add driver=qcow2 file.driver="
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "file.driver= taken by Tab")
    term.type("fi")
    line += "fi"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line and menu(s) == ["file"], "file")
    term.press("Tab")
    line = "blockdev-add driver=qcow2 file.driver=file"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "file.driver=file taken by Tab")

    # With the tag typed, file. offers the file driver's own members, filename= first.
    term.type(" file.")
    line += " file."
    screen = term.wait_for(
        lambda s: prompt_line(s) == PROMPT + line and "filename=" in menu(s),
        "filename= offered once file.driver=file is typed",
    )
    offered = menu(screen)
    assert offered[0] == "filename=" and "required" in menu_line(screen, "filename=")
    assert "driver=" not in offered  # given already

    term.type("filen")
    line += "filen"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line and menu(s) == ["filename="], "filen")
    term.press("Tab")
    line = "blockdev-add driver=qcow2 file.driver=file file.filename="
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "file.filename= taken by Tab")
    rest = f"{qemu.image} node-name=n1"
    term.type(rest)
    line += rest
    term.wait_for(
        lambda s: prompt_line(s) == PROMPT + line and menu(s) == [], "the whole line, no menu"
    )
    term.press("Enter")
    term.wait_for(
        lambda s: (PROMPT + line) in s.splitlines() and prompt_line(s) == PROMPT.rstrip(),
        "blockdev-add to run and a new prompt",
    )
    after = nodes(qemu)
    assert set(after) - set(before) >= {"n1"}
    assert after["n1"]["drv"] == "qcow2" and after["n1"]["file"] == str(qemu.image)

    # A value not in the enum: one line, a caret under the token, nothing sent.
    line = "blockdev-add driver=qcow3 node-name=x"
    term.type(line)
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "the wrong line typed")
    term.press("Enter")
    screen = term.wait_for(
        lambda s: (PROMPT + line) in s.splitlines() and prompt_line(s) == PROMPT.rstrip(),
        "the error and a new prompt",
    )
    lines = [text.rstrip() for text in screen.splitlines()]
    at = lines.index(PROMPT + line)
    error = lines[at + 1]
    caret = error.index("^")
    assert error[:caret].strip() == ""  # the caret line: blanks, then '^ message'
    assert lines[at][caret:].startswith("driver=qcow3"), (lines[at], error)
    assert "'qcow3' is not a valid value" in error and "did you mean" in error, error
    assert lines[at + 2] == PROMPT.rstrip()  # one line, nothing else printed
    assert nodes(qemu) == after  # nothing was added

    term.press("C-d")
    assert term.exit_status() == 0
    assert "Traceback" not in term.screen()


def test_tab_completes_a_host_file_and_inline_json_keys_in_a_real_terminal(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    term = terminal
    assert qemu.image is not None
    (tmp_path / "disk.img").write_bytes(b"\0" * 65536)
    (tmp_path / "dirs").mkdir()
    term.start_qmpsh(
        str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path / "state")}, width=WIDTH, height=50
    )
    term.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt with the VM name")

    # A value that names a file here completes as a local path, as after /fd.
    line = f"blockdev-add node-name=hostf driver=file filename={tmp_path}/d"
    term.type(line)
    screen = term.wait_for(
        lambda s: prompt_line(s) == PROMPT + line and len(menu(s)) == 2, "the files in tmp_path"
    )
    assert menu(screen) == [f"{tmp_path}/dirs/", f"{tmp_path}/disk.img"]
    assert menu_line(screen, f"{tmp_path}/disk.img").split()[1:] == ["file"]
    term.type("is")
    term.press("Tab")
    line += "isk.img"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "disk.img taken by Tab")
    term.press("Enter")
    term.wait_for(
        lambda s: (PROMPT + line) in s.splitlines() and prompt_line(s) == PROMPT.rstrip(),
        "blockdev-add to run and a new prompt",
    )
    assert nodes(qemu)["hostf"]["file"] == f"{tmp_path}/disk.img"

    # Inside an inline JSON value, keys are the members of the value's type.
    line = 'blockdev-add node-name=inline driver=qcow2 file={"dr'
    term.type(line)
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line and menu(s) == ["driver"], "driver")
    term.press("Tab")
    line += "iver"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "driver taken by Tab")
    term.type('": "file", "filen')
    line += '": "file", "filen'
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "the file driver's key typed")
    term.press("Tab")
    line += "ame"
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "filename taken by Tab")
    term.type(f'": "{qemu.image}"}}')
    line += f'": "{qemu.image}"}}'
    term.wait_for(lambda s: prompt_line(s) == PROMPT + line, "the whole line")
    term.press("Enter")
    term.wait_for(
        lambda s: (PROMPT + line) in s.splitlines() and prompt_line(s) == PROMPT.rstrip(),
        "blockdev-add to run and a new prompt",
    )
    assert nodes(qemu)["inline"]["file"] == str(qemu.image)
