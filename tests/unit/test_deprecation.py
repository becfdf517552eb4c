"""Deprecated commands, arguments and values: the notes (pure, on QEMU 11.1's recorded
schema), the replacement named only where the names make it evident, and the session's
one warning per command (``test_qemu_11_1.py``: the same against the real 11.1)."""

from __future__ import annotations

import pytest

from qmpsh.cli.run import drive
from qmpsh.language.deprecation import deprecations, replacement
from qmpsh.language.syntax import QmpCall, RawJson, Transaction, parse
from qmpsh.session.session import Session
from tests.support.corpus import index
from tests.support.stub_transport import StubTransport

SID = "qemu-11.1.3-x86_64.json.gz"


@pytest.mark.parametrize(
    ("name", "choices", "expected"),
    [
        ("block-job-pause", ["job-pause", "block-job-resume"], "job-pause"),  # words dropped
        ("drive-backup", ["blockdev-backup", "drive-mirror"], "blockdev-backup"),  # renamed
        ("top", ["top-node", "base-node"], "top-node"),  # words added
        ("query-kvm", ["query-accelerators", "query-kvm-x"], "query-kvm-x"),
        ("query-kvm", ["query-accelerators"], None),  # not evident from the names
        ("drive-backup", ["blockdev-backup", "x-backup"], None),  # two alike: no guess
        ("nbd-server-add", ["block-export-add", "nbd-server-start"], None),
    ],
)
def test_the_replacement_is_the_one_name_that_evidently_takes_over(
    name: str, choices: list[str], expected: str | None
) -> None:
    assert replacement(name, {n: () for n in [name, *choices]}) == expected


def test_a_deprecated_choice_is_never_the_replacement() -> None:
    assert replacement("top", {"top": (), "top-node": ("deprecated",)}) is None


@pytest.mark.parametrize(
    ("line", "notes"),
    [
        ("query-status", []),
        ("query-kvm", ["'query-kvm' is deprecated"]),
        ("block-job-pause device=j", ["'block-job-pause' is deprecated (use 'job-pause')"]),
        ("block-job-finalize id=j", ["'block-job-finalize' is deprecated (use 'job-finalize')"]),
        (
            "block-commit device=d top=a base=b",
            [
                "block-commit argument 'top' is deprecated (use 'top-node')",
                "block-commit argument 'base' is deprecated (use 'base-node')",
            ],
        ),
        ("block-commit device=d top-node=a", []),
        ("eject device=cd0", ["eject argument 'device' is deprecated"]),
        (
            "object-add qom-type=rng-random id=r opened=false",
            ["object-add argument 'opened' is deprecated"],
        ),
    ],
)
def test_notes_on_11_1(line: str, notes: list[str]) -> None:
    call = parse(line)
    assert isinstance(call, QmpCall)
    assert deprecations(index(SID), call.command, call.arguments) == notes


def test_a_deprecated_value_deep_in_a_transaction_names_its_replacement() -> None:
    actions = [
        {"type": "blockdev-backup", "data": {}},
        {"type": "drive-backup", "data": {"device": "d", "target": "t", "sync": "full"}},
    ]
    assert deprecations(index(SID), "transaction", {"actions": actions}) == [
        "transaction value 'drive-backup' of 'actions.1.type' is deprecated (use 'blockdev-backup')"
    ]


def test_the_session_warns_once_per_command_and_only_for_checked_input() -> None:
    warnings: list[str] = []
    transport = StubTransport()
    session = Session(transport, index=index(SID), on_warning=warnings.append)

    def send(text: str) -> None:
        item = parse(text)
        assert isinstance(item, (QmpCall, RawJson, Transaction))
        drive(session.run_command(item))

    send("!query-kvm")  # sent as typed: not checked, not warned about
    assert warnings == []
    send("query-kvm")
    send("query-kvm")
    send('{"execute": "query-kvm"}')
    assert warnings == ["'query-kvm' is deprecated"]
    send("block-commit device=d top-node=a")  # nothing deprecated: not counted
    send("block-commit device=d top=a")
    send("block-commit device=d base=b")  # the same command again: already warned
    send("transaction(drive-backup device=d target=t sync=full)")
    assert warnings[1:] == [
        "block-commit argument 'top' is deprecated (use 'top-node')",
        "transaction value 'drive-backup' of 'actions.0.type' is deprecated "
        "(use 'blockdev-backup')",
    ]
    sent = [message for message, quiet in transport.sent if not quiet]
    assert len(sent) == 8  # every one was sent: a warning stops nothing
