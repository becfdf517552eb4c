"""The reference manuals of QEMU 10.0 and 11.1 (the newer roff shape), each against the
schema of its own QEMU, run from the Debian chroots the version tests use."""

from __future__ import annotations

import gzip
import json
import subprocess
from functools import cache
from pathlib import Path

import pytest

from qmpsh.errors import InputError
from qmpsh.language.manual import Manual, parse_manual
from qmpsh.language.schema import SchemaIndex
from qmpsh.language.shorthand import example_line
from qmpsh.language.syntax import QmpCall, RawJson, Transaction, parse
from qmpsh.language.validate import checked

CHROOTS = {"10.0": Path("/srv/trixie"), "11.1": Path("/srv/sid")}
PAGE = Path("usr/share/man/man7/qemu-qmp-ref.7.gz")


@cache
def chroot_schema(root: Path) -> SchemaIndex:
    """query-qmp-schema of the chroot's own qemu-system-x86_64."""
    questions = "".join(
        json.dumps({"execute": name}) + "\n"
        for name in ("qmp_capabilities", "query-qmp-schema", "quit")
    )
    qemu = ["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none"]
    done = subprocess.run(
        ["chroot", str(root), *qemu, "-qmp", "stdio"],
        input=questions,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    replies = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    schema = next(r["return"] for r in replies if isinstance(r.get("return"), list))
    return SchemaIndex(schema)


def manual_and_schema(version: str) -> tuple[Manual, SchemaIndex]:
    root = CHROOTS[version]
    page = root / PAGE
    if not page.is_file() or not (root / "usr/bin/qemu-system-x86_64").is_file():
        pytest.skip(f"no QEMU {version} chroot at {root} (with qemu-system-x86 installed)")
    manual = parse_manual(gzip.decompress(page.read_bytes()).decode())
    assert manual.version.startswith(version + ".")
    return manual, chroot_schema(root)


@pytest.mark.parametrize("version", sorted(CHROOTS))
def test_every_command_and_event_the_manual_documents_gets_its_text(version: str) -> None:
    manual, idx = manual_and_schema(version)
    names = [*idx.commands, *idx.events]
    documented = [n for n in names if manual.get(n) is not None]
    undocumented = sorted(set(names) - set(documented))
    print(f"{version}: {len(documented)} of {len(names)} documented; undocumented: {undocumented}")
    assert len(documented) >= 0.95 * len(names)
    for name in documented:
        definition = manual.get(name)
        assert definition is not None, name
        # query-block-exports documents only what it returns
        assert definition.text or definition.returns, name
        assert definition.since, name
    arguments = [
        (name, member.name)
        for name in documented
        for member in idx.members(
            (idx.commands[name] if name in idx.commands else idx.events[name]).arg_type
        )
    ]
    worded = [(n, m) for n, m in arguments if (e := manual.member(n, (m,))) and e.text]
    print(f"{version}: {len(worded)} of {len(arguments)} arguments and event members have text")
    assert len(worded) >= 0.95 * len(arguments)


@pytest.mark.parametrize("version", sorted(CHROOTS))
def test_every_documented_request_converts_exactly(version: str) -> None:
    manual, idx = manual_and_schema(version)
    requests = [r for d in manual.definitions.values() for e in d.examples for r in e.requests()]
    shorthand, refused = 0, []
    for request in requests:
        item = parse(example_line(request, idx))
        assert isinstance(item, (QmpCall, Transaction, RawJson))
        shorthand += not isinstance(item, RawJson)
        try:
            sent = checked(item, idx)
        except InputError:  # documented, but not in this (x86_64) schema
            assert isinstance(item, RawJson)
            refused.append(item.command)
            continue
        assert json.dumps(sent, sort_keys=True) == json.dumps(request, sort_keys=True)
    print(f"{version}: {len(requests)} requests, {shorthand} as shorthand; refused {refused}")
    assert len(requests) > 150 and shorthand > 0.9 * len(requests)
    assert len(refused) <= 5
