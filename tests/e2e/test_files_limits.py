"""qmpsh's files under attack and out of room, and input past every sensible size.

Files (history, ``-l`` transcript, the schema cache): what is planted at their
path is never written through, changed or waited on; a disk that is read-only
or full costs a one-line warning (the schema cache: nothing at all), never the
session. What is already proven elsewhere is not repeated here: 0600 files in
0700 directories and a symlinked or directory transcript in
``test_transcript.py``, a private history in ``test_repl.py``, appending and
trimming it in ``test_files.py``, secrets in ``test_secrets.py``, the schema cache's modes
and symlinks in ``test_schemacache.py``.

Input: a 10 MB line, JSON nested 10,000 deep, a NUL byte and bytes that are not
UTF-8 are each one line of error, and the next input runs: in a script with
``-k`` (real QEMU, stdin bytes) and at the prompt (a real PromptSession fed
through a pipe, pasted the way a terminal pastes; 1 MB stands in for 10 there).
``test_syntax.py`` has the parser's messages for each (a huge token's too); ``test_script_files.py``
has bytes that are not UTF-8 failing a script at their line.

Full and read-only disks are small tmpfs mounts; a test that cannot mount one
(not root, or no CAP_SYS_ADMIN) is skipped and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from qmpsh.cli.prepare import history_file
from qmpsh.cli.settings import Settings
from qmpsh.errors import ExitStatus
from qmpsh.files import SYMLINK_REFUSED, history_entry, history_path
from tests.support.qemu import Qemu, start_qemu
from tests.support.qmpsh_process import lines, no_traceback, run_qmpsh
from tests.support.repldriver import CTRL_D, ENTER, Repl, nonblank_lines, running_repl

pytestmark = pytest.mark.qemu

#: What a terminal sends around pasted text (bracketed paste, which prompt_toolkit turns on).
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
DEEP = 10_000
DEEP_JSON = '{"execute": "query-name", "arguments": {"a": ' + "[" * DEEP + "]" * DEEP + "}}"
DEEP_SHORTHAND = "query-name a=" + "[" * DEEP + "]" * DEEP
NUL_LINE = "qom-get path=/machine\x00 property=type"
NOT_UTF8 = b"qom-get path=/machine property=typ\xff"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(scope="module")
def vm() -> Iterator[Qemu]:
    qemu = start_qemu()
    yield qemu
    qemu.stop()


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "64k") -> Iterator[Path]:
    """A small tmpfs at ``directory`` for the duration; skip the test if mounting is not allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill or make read-only: {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=10)


def fill(directory: Path, leave: int = 0) -> None:
    """Fill the file system of ``directory`` to the last byte, then free ``leave`` bytes."""
    filler = directory / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                os.write(fd, b"\0" * 4096)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0")
        if leave:
            os.ftruncate(fd, os.fstat(fd).st_size - leave)
    finally:
        os.close(fd)


def read_only(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True, timeout=10)


async def submit(r: Repl, data: bytes, expect: str) -> str:
    """Send ``data`` then Enter, as a terminal would (from a thread: a pipe holds only
    64 KiB); wait for ``expect`` and the next prompt; the output in between."""
    await r.until(r.at_prompt, "the prompt")
    mark = len(r.output())
    writer = threading.Thread(target=r.keys.send_bytes, args=(data + ENTER.encode(),), daemon=True)
    writer.start()
    done = shown_after(r, mark, expect)
    await r.until(lambda: not writer.is_alive() and done(), f"{expect!r} after {len(data)} bytes")
    return r.output()[mark:]


def shown_after(r: Repl, mark: int, expect: str) -> Callable[[], bool]:
    """Whether ``expect`` has been printed since ``mark`` and the prompt is back."""
    return lambda: expect in r.output()[mark:] and r.at_prompt() and r.line == ""


def pasted(text: str) -> bytes:
    return (PASTE_START + text + PASTE_END).encode()


def repl(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 60))


# -- history


@pytest.mark.parametrize("planted", ["symlink", "dangling-symlink", "directory", "fifo"])
def test_history_never_uses_what_is_planted_at_its_path(
    vm: Qemu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    """One warning, the session goes on, and the planted thing is as it was. (A
    directory used to crash the start, a FIFO to hang it.)"""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = history_path()
    path.parent.mkdir(parents=True, mode=0o700)
    precious = tmp_path / "precious"
    reason = SYMLINK_REFUSED
    if planted == "symlink":
        precious.write_text("keep me\n")
        precious.chmod(0o644)
        path.symlink_to(precious)
    elif planted == "dangling-symlink":
        path.symlink_to(precious)
    elif planted == "directory":
        path.mkdir()
        reason = "Is a directory"
    else:
        os.mkfifo(path)
        reason = "not a regular file"
    history = history_file(Settings())  # trimmed first, as at every start

    async def body() -> None:
        async with running_repl(vm, history=history) as r:
            assert nonblank_lines(r.output()) == [f"warning: history not saved: {path}: {reason}"]
            await r.enter("query-name", '"testvm"')
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    repl(body)
    if planted.endswith("symlink"):
        assert os.readlink(path) == str(precious)
    if planted == "symlink":
        assert (precious.read_text(), mode(precious)) == ("keep me\n", 0o644)
    elif planted == "dangling-symlink":
        assert not precious.exists()  # nothing was created through it
    elif planted == "directory":
        assert list(path.iterdir()) == []
    else:
        assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_history_on_a_read_only_disk_is_one_warning_and_the_session_goes_on(
    vm: Qemu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    with tmpfs(state):
        monkeypatch.setenv("XDG_STATE_HOME", str(state))
        path = history_path()
        path.parent.mkdir(mode=0o700)
        before = history_entry("query-status") + history_entry("query-name")
        path.write_bytes(before)
        path.chmod(0o600)
        read_only(state)
        history = history_file(Settings(history_size=1))  # trimming cannot write either

        async def body() -> None:
            async with running_repl(vm, history=history) as r:
                assert nonblank_lines(r.output()) == [
                    f"warning: history not saved: {path}: Read-only file system"
                ]
                await r.enter("query-name", '"testvm"')
                r.type(CTRL_D)
                assert await r.finish() == ExitStatus.OK

        repl(body)
        assert path.read_bytes() == before


def test_history_on_a_full_disk_is_one_warning_and_the_session_goes_on(
    vm: Qemu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    with tmpfs(state):
        monkeypatch.setenv("XDG_STATE_HOME", str(state))
        history = history_file(Settings())
        assert history is not None
        history.parent.mkdir(mode=0o700)
        fill(state)

        async def body() -> None:
            async with running_repl(vm, history=history) as r:
                assert nonblank_lines(r.output()) == []  # an empty file needs no room
                for command, expect in (("query-name", '"testvm"'), ("query-status", "running")):
                    mark = len(r.output())
                    r.type(command + ENTER)
                    await r.until(
                        shown_after(r, mark, expect),
                        f"{expect!r} after {command!r}",
                        timeout=3,
                    )
                warnings = [ln for ln in nonblank_lines(r.output()) if ln.startswith("warning:")]
                assert len(warnings) == 1, r.output()
                assert str(history) in warnings[0] and "No space left on device" in warnings[0]
                r.type(CTRL_D)
                assert await r.finish(3) == ExitStatus.OK

        repl(body)
    printed = capfd.readouterr()
    assert "Unhandled exception" not in printed.out + printed.err


# -- transcript


def test_transcript_on_a_disk_that_fills_keeps_whole_lines_and_the_script_goes_on(
    vm: Qemu, tmp_path: Path
) -> None:
    """The schema's reply (200 KB) does not fit: the line is taken back, one warning,
    the results all printed. (The full disk used to end the run as "connection closed
    by QEMU" and an internal error.)"""
    with tmpfs(tmp_path / "disk") as disk:
        fill(disk, leave=4096)
        log = disk / "t.jsonl"
        done = run_qmpsh(
            str(vm.qmp), "-l", str(log), "-c", "query-name",
            "-c", "qom-get path=/machine property=type", "-c", "query-status",
            timeout=30,
        )  # fmt: skip
        kept = log.read_text()
    no_traceback(done.stderr)
    assert done.returncode == 0, done
    assert lines(done.stdout)[:2] == ['{"name":"testvm"}', '"none-machine"']
    assert len(lines(done.stdout)) == 3
    assert lines(done.stderr) == [f"warning: {log}: transcript stopped: No space left on device"]
    records = [json.loads(line) for line in kept.splitlines()]  # whole lines only
    assert kept.endswith("\n")
    assert [r["message"].get("execute") for r in records[:1]] == ["query-name"]
    assert records[1]["message"]["return"] == {"name": "testvm"}


def test_transcript_never_changes_a_device_nor_waits_on_a_fifo(vm: Qemu, tmp_path: Path) -> None:
    """``-l /dev/null`` as root used to make /dev/null 0600 for everyone; a FIFO nobody
    reads used to hang qmpsh before it connected."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    done = run_qmpsh(str(vm.qmp), "-l", str(fifo), "-c", "query-name", timeout=20)
    assert time.monotonic() - started < 10
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == f"qmpsh: {fifo}: cannot write the transcript: not a regular file\n"
    if os.geteuid() != 0:
        pytest.skip("only root can make a device node (the rest of this test ran)")
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers
    null.chmod(0o666)
    done = run_qmpsh(str(vm.qmp), "-l", str(null), "-c", "query-name", timeout=20)
    assert (done.returncode, lines(done.stdout), done.stderr) == (0, ['{"name":"testvm"}'], "")
    assert mode(null) == 0o666


# -- schema cache


CHECKED = ("-c", "qom-get path=/machine property=type")  # checked against the schema


def test_schema_cache_on_a_full_disk_costs_nothing(vm: Qemu, tmp_path: Path) -> None:
    """The cache is an optimisation: a disk without room for it is silently no cache.
    (Its modes, symlinks and unwritable places: ``test_schemacache.py``.)"""
    with tmpfs(tmp_path / "state") as state:
        fill(state)
        done = run_qmpsh(str(vm.qmp), *CHECKED, env={"XDG_STATE_HOME": str(state)})
        left = [p.name for p in (state / "qmpsh" / "schemas").iterdir()]
    assert (done.returncode, done.stdout, done.stderr) == (0, '"none-machine"\n', ""), done
    assert left == []  # no half-written file, no temporary left behind


# -- input limits


BIG_LINE = "query-name x=" + "a" * (10 << 20)  # 10 MiB: over the input limit


def test_script_input_past_every_limit_is_one_line_each_and_keep_going_runs_the_next(
    vm: Qemu,
) -> None:
    bad = [BIG_LINE.encode(), DEEP_JSON.encode(), DEEP_SHORTHAND.encode(), NUL_LINE.encode()]
    script = b"".join(line + b"\nquery-name\n" for line in [*bad, NOT_UTF8])
    started = time.monotonic()
    done = run_qmpsh(str(vm.qmp), "-k", input=script, timeout=30)
    assert time.monotonic() - started < 20
    no_traceback(done.stderr)
    assert done.returncode == 1, done.stderr[:2000]
    assert lines(done.stdout) == ['{"name":"testvm"}'] * 5
    assert lines(done.stderr) == [
        "line 1: 10,485,773 characters, over the limit of 1,048,576 for one input "
        "(--max-input raises it)",
        "line 3: invalid JSON: nested too deeply (column 1)",
        "line 5: invalid JSON in value of 'a': nested too deeply (column 14)",
        "line 7: input contains a NUL byte (column 22)",
        "line 9: input contains bytes that are not UTF-8 (column 35)",
    ]


def test_repl_input_past_every_limit_is_one_line_each_and_the_next_input_works(
    vm: Qemu, tmp_path: Path
) -> None:
    """Pasted (bracketed paste, as from a terminal): a NUL, deep JSON, a 1 MB line and a
    10 MB one (not inserted: one line says so); typed: bytes that are not UTF-8."""
    history = tmp_path / "state" / "qmpsh" / "history"
    cases = [
        (pasted(NUL_LINE), "input contains a NUL byte"),
        (pasted(DEEP_JSON), "invalid JSON: nested too deeply"),
        (pasted(DEEP_SHORTHAND), "invalid JSON in value of 'a': nested too deeply"),
        (NOT_UTF8, "input contains bytes that are not UTF-8"),
        (pasted("query-name x=" + "a" * 1_000_000), "unknown argument 'x'"),
        (pasted("query-name x=" + "a" * 10_000_000), "paste not inserted: 10,000,013 characters"),
    ]

    async def body() -> None:
        async with running_repl(vm, history=history) as r:
            for data, message in cases:
                shown = await submit(r, data, message)
                said = [line.strip() for line in nonblank_lines(shown)]
                if message.startswith("paste"):
                    assert len(said) == 1 and said[0].startswith(message), said
                else:
                    assert said == ["^ " + message]
                await r.enter("query-name", '"testvm"')
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    repl(body)
    assert mode(history) == 0o600  # odd input stored as prompt_toolkit stores it, no failure


def test_a_valid_command_over_the_input_limit_is_refused_unsent(vm: Qemu) -> None:
    """QEMU parses a long command at about 0.2 MB/s, its monitor stalled meanwhile: a
    line over the limit is refused before it is sent; ``--max-input`` moves the limit."""
    value = "a" * (1 << 20)
    big = json.dumps({"execute": "qom-set", "arguments": {"path": "/machine", "property": "x"}})
    big = big.replace('"x"', json.dumps("x" + value))  # valid JSON, a name QEMU lacks
    script = f"{big}\nquery-name\n{big}\nquery-name\n"
    started = time.monotonic()
    done = run_qmpsh(str(vm.qmp), "-k", input=script, timeout=30)
    assert time.monotonic() - started < 10  # nothing sent for QEMU to chew on
    size = f"{len(big):,} characters"
    refusal = f"{size}, over the limit of 1,048,576 for one input (--max-input raises it)"
    assert (done.returncode, lines(done.stderr)) == (
        1,
        [f"line 1: {refusal}", f"line 3: {refusal}"],
    )
    assert lines(done.stdout) == ['{"name":"testvm"}'] * 2
    # Lowered, a short command is refused too; raised, the long one reaches the schema check.
    done = run_qmpsh(str(vm.qmp), "--max-input", "5", "-c", "query-name")
    assert (done.returncode, lines(done.stderr)) == (
        1,
        ["-c 1: 10 characters, over the limit of 5 for one input (--max-input raises it)"],
    )
    done = run_qmpsh(str(vm.qmp), "--max-input", "2000000", input="query-name x=" + value)
    assert (done.returncode, lines(done.stderr)) == (
        1,
        ["line 1: unknown argument 'x' (column 12)"],
    )
    done = run_qmpsh(str(vm.qmp), "--max-input", "0", "-c", "query-name")
    assert done.returncode == 2 and "--max-input: out of range: '0'" in done.stderr
