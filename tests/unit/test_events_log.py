"""The event log on its own: matching by name glob and data, bounds, and waiting.

Pure and fast; ``tests/e2e/test_events_qemu.py`` shows the same log at work with
real QEMU's events.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmpsh.language.syntax import QmpCall, parse
from qmpsh.session.events import EventLog, Logged, Match, failure
from tests.support.fuzzcount import scaled


def match(text: str) -> Match:
    call = parse(text)
    assert isinstance(call, QmpCall)
    return Match(call.command, call.args)


def logged(name: str, data: object = None, seq: int = 1) -> Logged:
    message: dict[str, object] = {"event": name, "timestamp": {"seconds": 1, "microseconds": 0}}
    if data is not None:
        message["data"] = data
    return Logged(seq, message)


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("STOP", "STOP", True),
        ("STOP", "STOPPED", False),
        ("stop", "STOP", False),  # event names are matched as QEMU spells them
        ("BLOCK_JOB_*", "BLOCK_JOB_READY", True),
        ("BLOCK_JOB_*", "JOB_STATUS_CHANGE", False),
        ("*_CHANGE", "JOB_STATUS_CHANGE", True),
        ("?TOP", "STOP", True),
        ("*", "ANYTHING", True),
    ],
)
def test_name_glob(pattern: str, name: str, hit: bool) -> None:
    assert match(pattern)(logged(name)) is hit


@pytest.mark.parametrize(
    ("conditions", "data", "hit"),
    [
        ("device=drive0", {"device": "drive0", "len": 5}, True),
        ("device=drive1", {"device": "drive0"}, False),
        ("len=5", {"len": 5}, True),
        ('len="5"', {"len": 5}, True),  # quoted or not, the number matches
        ("len=5", {"len": "5"}, True),
        ("len=6", {"len": 5}, False),
        ("device=drive0 len=5", {"device": "drive0", "len": 6}, False),  # every condition
        ("a.b=x", {"a": {"b": "x"}}, True),  # dotted keys reach into nested data
        ("a.b=x", {"a": "b"}, False),
        ("flag=true", {"flag": True}, True),
        ("flag=1", {"flag": True}, False),  # Python's True == 1 is no match here
        ("n=0", {"n": False}, False),
        ("n=false", {"n": 0}, False),
        ("x=null", {"x": None}, True),
        ("x=null", {}, False),  # a missing member is not null
        ("device=drive0", None, False),  # an event without data
        ("d={}", {"d": {}}, True),
    ],
)
def test_data_conditions(conditions: str, data: object, hit: bool) -> None:
    assert match(f"EV {conditions}")(logged("EV", data)) is hit


def test_log_is_bounded_and_keeps_the_newest() -> None:
    log = EventLog(capacity=3)
    for seq in range(1, 6):
        log.add(seq, {"event": f"E{seq}"})
    assert [e.name for e in log] == ["E3", "E4", "E5"] and len(log) == 3
    assert [e.seq for e in log.select(Match(), after=3)] == [4, 5]
    assert [e.seq for e in log.select(match("E4"))] == [4]


@settings(max_examples=scaled(200), deadline=None)
@given(st.lists(st.sampled_from(["A", "B"]), max_size=30), st.integers(0, 31))
def test_select_after_is_those_numbered_after(names: list[str], after: int) -> None:
    log = EventLog()
    for seq, name in enumerate(names, 1):
        log.add(seq, {"event": name})
    expected = [seq for seq, name in enumerate(names, 1) if seq > after and name == "A"]
    assert [e.seq for e in log.select(match("A"), after=after)] == expected


def test_first_returns_the_first_match_after_a_number() -> None:
    log = EventLog()
    log.add(1, {"event": "STOP"})
    log.add(3, {"event": "STOP"})
    log.add(4, {"event": "RESUME"})
    stop = match("STOP")
    assert (found := log.first(stop, after=0)) is not None and found.seq == 1
    assert (found := log.first(stop, after=1)) is not None and found.seq == 3
    assert log.first(stop, after=3) is None


def test_failure_is_an_ending_in_error_unless_the_wait_asked_for_it() -> None:
    failed = Logged(1, {"event": "BLOCK_JOB_COMPLETED", "data": {"device": "j0", "error": "EIO"}})
    done = Logged(2, {"event": "BLOCK_JOB_COMPLETED", "data": {"device": "j0"}})
    aborting = Logged(3, {"event": "JOB_STATUS_CHANGE", "data": {"id": "j0", "status": "aborting"}})
    ready = Logged(4, {"event": "JOB_STATUS_CHANGE", "data": {"id": "j0", "status": "ready"}})
    migration = Logged(5, {"event": "MIGRATION", "data": {"status": "failed"}})
    assert failure(failed, match("BLOCK_JOB_COMPLETED")) == "job j0 failed: EIO"
    assert failure(failed, match("*")) == "job j0 failed: EIO"
    assert failure(done, match("BLOCK_JOB_COMPLETED")) is None
    assert failure(aborting, match("JOB_STATUS_CHANGE")) == "job j0 is aborting"
    assert failure(aborting, match("JOB_STATUS_CHANGE status=aborting")) is None
    assert failure(ready, match("JOB_STATUS_CHANGE")) is None
    assert failure(migration, match("MIGRATION")) == "migration failed"
    assert failure(migration, match("MIGRATION status=failed")) is None
