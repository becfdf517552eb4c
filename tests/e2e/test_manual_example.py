"""``/example CMD``: the reference manual's requests as lines to type. At the prompt the
chosen one goes on the line to edit and is never sent by itself; in a script they are
listed; and every documented request of the installed manual, typed as ``/example``
writes it, makes qmpsh send exactly the request the manual shows."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from qmpsh.language.manual import Manual, parse_manual
from qmpsh.language.shorthand import documented_lines
from qmpsh.language.syntax import RawJson, parse
from tests.support.corpus import index, recording
from tests.support.fakeserver import FakeServer
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh
from tests.support.repldriver import ENTER, running_repl

# Not every_qemu: the subject is the manual installed here (the system QEMU's, 7.2) set
# against the QEMU that answers; on a newer QEMU the installed manual is another
# version's, which is a different case (and tested as one).
PAGE = Path("/usr/share/man/man7/qemu-qmp-ref.7.gz")
SCHEMA_72 = "qemu-7.2.22-x86_64.json.gz"


def installed() -> Manual:
    if not PAGE.is_file():
        pytest.skip(f"{PAGE} is not installed (Debian: qemu-system-common)")
    return parse_manual(gzip.decompress(PAGE.read_bytes()).decode())


def test_the_chosen_example_goes_on_the_line_and_is_not_sent(qemu: Qemu) -> None:
    manual = installed()
    doc = manual.get("blockdev-snapshot-sync")
    assert doc is not None

    async def main() -> None:
        async with running_repl(qemu) as r:
            (_, expected), *_ = documented_lines(doc, r.session.index)
            mark = len(r.output())
            r.type("/example blockdev-snapshot-sync" + ENTER)
            await r.until(lambda: r.at_prompt() and r.line == expected, "the example, to edit")
            assert expected in r.output()[mark:]
            assert "blockdev-snapshot-sync" not in r.sent_commands()
            r.type("\x15/example query-status 1" + ENTER)  # Ctrl-U: nothing sent
            await r.until(lambda: r.at_prompt() and r.line == "query-status", "query-status")
            assert "blockdev-snapshot-sync" not in r.sent_commands()
            assert await r.enter("", '"status"')  # sent when the user says so
            assert r.sent_commands().count("query-status") == 1

    asyncio.run(main())


def test_a_script_lists_the_examples_and_sends_nothing(qemu: Qemu) -> None:
    manual = installed()
    doc = manual.get("blockdev-snapshot-sync")
    assert doc is not None
    lines = [line for _, line in documented_lines(doc, index(SCHEMA_72))]
    done = run_qmpsh(str(qemu.qmp), "-c", "/example blockdev-snapshot-sync")
    assert done.returncode == 0, done.stderr
    shown = done.stdout.splitlines()
    assert shown[0].startswith("blockdev-snapshot-sync: ")
    assert [row.split(None, 1)[1] for row in shown[1:] if row.strip()[0].isdigit()] == lines
    done = run_qmpsh(str(qemu.qmp), "-c", "/example query-stauts")
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "unknown command 'query-stauts'; did you mean 'query-status'?"
    )
    done = run_qmpsh(str(qemu.qmp), "-c", "/example query-status", env={"MANPATH": "/nowhere"})
    assert done.returncode == 1
    assert done.stderr == (
        "-c 1: /example query-status: no words from qemu-qmp-ref(7): "
        "it is not installed (Debian: qemu-system-common)\n"
    )
    done = run_qmpsh(str(qemu.qmp), "-c", "/example SHUTDOWN")  # an event: nothing to send
    assert done.returncode == 1
    assert done.stderr == "-c 1: /example SHUTDOWN: its reference manual shows no example request\n"


def test_every_documented_request_is_sent_exactly_as_documented() -> None:
    """The whole installed manual against a server with the real 7.2 schema."""
    manual = installed()
    idx = index(SCHEMA_72)
    recorded = recording(SCHEMA_72)
    typed: list[str] = []
    refused, skipped = [], []
    for doc in manual.definitions.values():
        for _, line in documented_lines(doc, idx):
            item = parse(line)
            if isinstance(item, RawJson) and item.command not in idx.commands:
                refused.append(item.command)  # another target's command (s390x, arm)
                continue
            if line.split()[0] == "qmp_capabilities":  # taken once, before anything else
                skipped.append(line)
                continue
            typed.append(line)
    answers: dict[str, object] = {name: {} for name in idx.commands}
    answers.update(recorded["replies"])
    version = recorded["greeting"]["QMP"]["version"]
    with FakeServer(commands=answers, version={**version, "package": ""}) as fake:
        script = "/help query-status\n" + "".join(f"{line}\n" for line in typed)
        done = run_qmpsh(str(fake.path), input=script, timeout=120)
        received = list(fake.received)
    assert done.returncode == 0, done.stderr
    learned = next(i for i, m in enumerate(received) if m.get("execute") == "query-name")
    sent = [{k: v for k, v in m.items() if k != "id"} for m in received[learned + 1 :]]
    requests = [
        r for d in manual.definitions.values() for e in d.examples for r in e.requests()
        if r.get("execute") not in [*refused, "qmp_capabilities"]
    ]  # fmt: skip
    assert len(sent) == len(requests) == len(typed)
    for line, request, message in zip(typed, requests, sent, strict=True):
        expected = {k: v for k, v in request.items() if k != "id"}
        assert json.dumps(message, sort_keys=True) == json.dumps(expected, sort_keys=True), line
    shorthand = sum(not line.startswith("{") for line in typed)
    print(f"7.2: {len(typed)} documented requests sent exactly ({shorthand} typed as shorthand);")
    print(f"refused by the x86_64 schema: {refused}; not sent twice: {skipped}")
    assert len(typed) > 150
