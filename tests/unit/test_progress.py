"""What progress is shown for jobs and a migration, and how rate and ETA are computed;
the session's polling of them (a stub transport), only while something runs; how
``/jobs`` tells how each ended; and what ``/watch`` marks as changed.

``tests/e2e/test_progress_tmux.py`` shows the same lines on real QEMU's work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmpsh.cli.run import drive
from qmpsh.errors import ConnectionLost, InputError
from qmpsh.language import completion, watch
from qmpsh.language.progress import (
    Ended,
    Progress,
    Sample,
    Shown,
    duration,
    ended,
    eta,
    line,
    lines,
    progress,
    rate,
    running,
    sample,
    size,
)
from qmpsh.session.dispatch import run_text
from qmpsh.session.events import Match
from qmpsh.session.session import Session
from tests.support.stub_transport import StubTransport

MiB = 1024 * 1024


def job(
    done: int, total: int = 8 * MiB, status: str = "running", **more: object
) -> dict[str, object]:
    return {
        "id": "b0",
        "type": "backup",
        "status": status,
        "current-progress": done,
        "total-progress": total,
        **more,
    }


def test_a_job_line_has_id_type_percent_amount_rate_and_eta() -> None:
    before = sample(10.0, [job(1 * MiB)], {"status": "none"})
    now = sample(12.0, [job(3 * MiB)], {"status": "none"})
    assert lines(before, now) == ("b0  backup  running  37%  3.0 MiB/8.0 MiB  1.0 MiB/s  ETA 0:05",)
    # The first sample has nothing to measure a rate against.
    assert lines(None, now) == ("b0  backup  running  37%  3.0 MiB/8.0 MiB",)


def test_a_failed_job_that_is_still_listed_says_its_error() -> None:
    now = sample(1.0, [job(0, status="aborting", error="Input/output error")], None)
    assert lines(None, now) == ("b0  backup  aborting  0%  0 B/8.0 MiB  error: Input/output error",)


def test_the_migration_line_has_ram_dirty_rate_and_downtime() -> None:
    def migrate(sent: int, left: int) -> dict[str, object]:
        ram = {"transferred": sent, "total": 64 * MiB, "remaining": left}
        ram |= {"dirty-pages-rate": 10, "page-size": 4096}
        return {"status": "active", "ram": ram, "expected-downtime": 300}

    before = sample(0.0, [], migrate(1 * MiB, 48 * MiB))
    now = sample(1.0, [], migrate(3 * MiB, 32 * MiB))
    assert lines(before, now) == (
        "migration  active  50%  RAM 3.0 MiB/64.0 MiB  2.0 MiB/s  dirty 40.0 KiB/s  "
        "downtime 300 ms  ETA 0:16",
    )


def test_what_is_over_is_not_shown_and_not_polled_again() -> None:
    over = sample(0.0, [job(8 * MiB, status="concluded")], {"status": "completed"})
    assert lines(None, over) == () and not running(over)
    assert running(sample(0.0, [job(0, status="paused")], None))
    assert running(sample(0.0, [], {"status": "setup"}))
    # Whatever a server without these commands answers, nothing runs.
    assert not running(sample(0.0, None, None)) and not running(sample(0.0, {"x": 1}, [1]))


@given(st.integers(0, 2**40), st.integers(0, 2**40), st.floats(0.001, 1e4), st.integers(0, 2**40))
def test_rate_and_eta_agree_with_what_moved(
    before: int, after: int, seconds: float, total: int
) -> None:
    speed = rate(before, after, seconds)
    if after < before:  # a counter that went back (a restarted job) has no rate
        assert speed is None
        return
    assert speed is not None and abs(speed * seconds - (after - before)) <= 1e-6 * max(1, after)
    left = total - after
    when = eta(left, speed)
    if left <= 0:
        assert when == 0
    elif speed == 0:
        assert when is None  # nothing moved: no guess
    else:
        assert when is not None and abs(when * speed - left) <= 1e-6 * left


@given(st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40))
def test_percent_is_whole_within_0_and_100_and_100_only_when_done(done: int, total: int) -> None:
    shown = progress(None, Sample(0.0, (job(done, total),)))
    percent = shown[0].percent
    if total <= 0:
        assert percent is None
    else:
        assert percent is not None and 0 <= percent <= 100
        assert (percent == 100) == (done >= total)


@given(st.floats(0, 2**50))
def test_sizes_and_durations_read_as_a_person_reads_them(count: float) -> None:
    text = size(count)
    number, unit = text.split(" ")
    assert unit in ("B", "KiB", "MiB", "GiB", "TiB")
    assert float(number) < 1024 or unit == "TiB"
    assert re.fullmatch(r"(\d+:)?\d{1,2}:\d\d|\d+:\d\d:\d\d", duration(count % 1e6))


def test_duration_examples() -> None:
    assert [duration(s) for s in (0, 4.6, 65, 3600 + 61)] == ["0:00", "0:05", "1:05", "1:01:01"]


def test_line_of_a_job_without_a_total_has_no_percent() -> None:
    assert line(Progress("c0", "create", "running", 0, 0)) == "c0  create  running  0 B/0 B"


# --------------------------------------------------------------------------- polling


def polled_session(answers: list[tuple[object, object]]) -> tuple[Session, StubTransport]:
    """A session whose transport answers query-jobs and query-migrate from ``answers``
    (one pair per poll) and sends an event after the last."""
    polls = iter(answers)
    pending: list[tuple[object, object]] = []

    async def answer(message: Mapping[str, object]) -> dict[str, object]:
        if message["execute"] == "query-jobs":
            pending.append(next(polls))
            return {"return": pending[-1][0]}
        return {"return": pending[-1][1]}

    transport = StubTransport(answer)
    return Session(transport), transport


def test_wait_polls_while_a_job_runs_and_erases_its_line_at_the_end() -> None:
    running_job: tuple[object, object] = ([job(1 * MiB)], {"status": "none"})
    session, transport = polled_session([running_job, running_job])
    shown: list[tuple[Shown, ...]] = []
    session.on_progress = shown.append
    waits = 0

    async def wait(*, fd: int | None = None, timeout: float | None = None) -> bool:
        nonlocal waits
        waits += 1
        assert timeout is not None and timeout <= 1.0  # the next poll bounds each wait
        if waits == 2:
            transport.notify("recv", {"event": "BLOCK_JOB_COMPLETED", "data": {}})
        return False

    transport.wait = wait  # type: ignore[method-assign]
    found = drive(session.next_event(Match("BLOCK_JOB_COMPLETED"), None))
    assert found is not None
    assert shown[0] == ("b0  backup  running  12%  1.0 MiB/8.0 MiB",)
    assert shown[-1] == ()  # erased when the wait ended
    asked = [m["execute"] for m, quiet in transport.sent if quiet]
    assert asked[:2] == ["query-jobs", "query-migrate"]


def test_wait_polls_once_when_nothing_runs_and_not_at_all_without_a_sink() -> None:
    idle: tuple[object, object] = ([], {"status": "none"})
    session, transport = polled_session([idle])
    session.on_progress = lambda shown: None
    timeouts: list[float | None] = []

    async def wait(*, fd: int | None = None, timeout: float | None = None) -> bool:
        timeouts.append(timeout)
        if len(timeouts) == 3:
            transport.notify("recv", {"event": "STOP"})
        return False

    transport.wait = wait  # type: ignore[method-assign]
    assert drive(session.next_event(Match("STOP"), None)) is not None
    assert timeouts == [None, None, None]  # nothing runs: no interval to keep
    assert [m["execute"] for m, _ in transport.sent] == ["query-jobs", "query-migrate"]
    session.on_progress = None
    transport.sent.clear()
    timeouts.clear()
    assert drive(session.next_event(Match("STOP"), None)) is not None
    assert transport.sent == []


def test_polling_that_found_nothing_resumes_when_an_event_says_a_job_changed() -> None:
    idle: tuple[object, object] = ([], {"status": "none"})
    started: tuple[object, object] = ([job(0)], {"status": "none"})
    session, transport = polled_session([idle, started])
    shown: list[tuple[Shown, ...]] = []
    session.on_progress = shown.append
    waits = 0

    async def wait(*, fd: int | None = None, timeout: float | None = None) -> bool:
        nonlocal waits
        waits += 1
        if waits == 1:
            assert timeout is None  # nothing runs: nothing to poll for
            transport.notify("recv", status_change("b0", "created"))
        else:
            assert timeout is not None  # a job runs: polled again at the interval
            transport.notify("recv", {"event": "STOP"})
        return False

    transport.wait = wait  # type: ignore[method-assign]
    assert drive(session.next_event(Match("STOP"), None)) is not None
    asked = [m["execute"] for m, _ in transport.sent]
    assert asked == ["query-jobs", "query-migrate"] * 2
    assert shown == [("b0  backup  running  0%  0 B/8.0 MiB",), ()]


# --------------------------------------------------------------------------- /jobs' ends


def status_change(name: str, status: str) -> dict[str, object]:
    return {"event": "JOB_STATUS_CHANGE", "data": {"id": name, "status": status}}


def test_a_job_dismissed_at_once_is_told_by_its_events() -> None:
    failed: list[dict[str, object]] = [
        status_change("b0", "running"),
        status_change("b0", "aborting"),
        status_change("b0", "concluded"),
        {
            "event": "BLOCK_JOB_COMPLETED",
            "data": {"device": "b0", "type": "backup", "error": "EIO"},
        },
        status_change("b0", "null"),
    ]
    assert ended({}, sample(0, [], None), failed, False) == (
        Ended("b0", "backup", "failed", "EIO"),
    )
    cancelled: list[dict[str, object]] = [
        status_change("m0", "aborting"),
        {"event": "BLOCK_JOB_CANCELLED", "data": {"device": "m0", "type": "mirror"}},
        status_change("m0", "null"),
    ]
    assert ended({}, None, cancelled, False) == (Ended("m0", "mirror", "cancelled"),)
    # A job that is not a block job has status changes only.
    created = [status_change("c0", "concluded"), status_change("c0", "null")]
    assert ended({"c0": {"id": "c0", "type": "create"}}, None, created, False) == (
        Ended("c0", "create", "concluded"),
    )


def test_a_job_qemu_still_lists_says_how_it_ended_itself() -> None:
    kept = {"id": "b0", "type": "backup", "status": "concluded", "error": "No space left"}
    latest = sample(0, [kept], {"status": "none"})
    assert ended({"b0": kept}, latest, [], False) == (
        Ended("b0", "backup", "failed", "No space left"),
    )


def test_the_migration_ends_as_query_migrate_says() -> None:
    latest = sample(0, [], {"status": "failed", "error-desc": "Unable to write"})
    assert ended({}, latest, [], True) == (
        Ended("migration", "migration", "failed", "Unable to write"),
    )
    done = sample(0, [], {"status": "completed"})
    assert [end.text for end in ended({}, done, [], True)] == ["migration  completed"]
    assert ended({}, done, [], False) == ()  # not followed, no event: not this /jobs' news


# --------------------------------------------------------------------------- /watch


def test_watch_marks_from_the_first_changed_character_to_the_end_of_its_line() -> None:
    before = ('"offset": 1024,', '"status": "running"')
    now = ('"offset": 2048,', '"status": "running"', "]")
    assert watch.marked(None, now) == tuple(((line, ""),) for line in now)  # first run
    assert watch.marked(before, now) == (
        (('"offset": ', ""), ("2048,", "changed")),
        (('"status": "running"', ""),),
        (("]", "changed"),),  # a line that was not there
    )
    assert watch.marked(("12",), ("1",)) == ((("1", "changed"),),)  # cut short: all of it


@given(st.lists(st.text(max_size=8), max_size=5), st.lists(st.text(max_size=8), max_size=5))
def test_watch_shows_every_line_as_it_is_and_marks_only_what_differs(
    before: list[str], now: list[str]
) -> None:
    shown = watch.marked(tuple(before), tuple(now))
    assert ["".join(text for text, _ in spans) for spans in shown] == now
    for at, spans in enumerate(shown):
        changed = at >= len(before) or before[at] != now[at]
        assert any(role == "changed" for _, role in spans) == (changed and now[at] != "")


def test_watch_interval_takes_seconds_of_at_least_a_tenth() -> None:
    assert watch.interval(1) == 1.0 and watch.interval(0.1) == 0.1
    for wrong in (0, 0.05, -1, True, "2", None):
        try:
            watch.interval(wrong)
        except ValueError as err:
            assert str(err) == "interval= takes seconds, at least 0.1"
        else:
            raise AssertionError(wrong)


def test_watch_in_a_session_at_the_prompt_runs_the_query_and_redraws_it() -> None:
    replies = iter([{"status": "running"}, {"status": "paused"}])

    async def answer(message: Mapping[str, object]) -> dict[str, object]:
        return {"return": next(replies)}

    transport = StubTransport(answer)
    session = Session(transport, use_schema=False, at_prompt=True)
    drawn: list[tuple[Shown, ...]] = []
    session.on_progress = drawn.append
    waits = 0

    async def wait(*, fd: int | None = None, timeout: float | None = None) -> bool:
        nonlocal waits
        waits += 1
        if waits > 1 and len(drawn) == 2:
            raise ConnectionLost("stub: gone")  # the only way out but Ctrl-C
        return False

    transport.wait = wait  # type: ignore[method-assign]
    with pytest.raises(ConnectionLost):
        drive(run_text(session, "/watch query-status interval=0.1"))
    assert transport.sent == [({"execute": "query-status"}, True)] * 2  # quiet: not traffic
    head, *first = drawn[0]
    assert head[0][0].startswith("every 0.1 s: query-status interval=0.1  (")
    assert first == [(("{", ""),), (('  "status": "running"', ""),), (("}", ""),)]
    assert drawn[1][2] == (('  "status": "', ""), ('paused"', "changed"))


def test_watch_refuses_bad_input_with_one_line() -> None:
    session = Session(StubTransport(), use_schema=False, at_prompt=True)
    for text, error in (
        ("/watch", "/watch takes a QMP command, e.g. /watch query-migrate interval=1"),
        ("/watch query-status interval=0", "/watch interval= takes seconds, at least 0.1"),
    ):
        with pytest.raises(InputError) as err:
            drive(run_text(session, text))
        assert str(err.value) == error


def test_watch_completes_a_command_and_its_arguments_not_events() -> None:
    """What follows /watch completes as a command line at the prompt (/help's topic
    would offer events too, which /watch cannot run)."""
    assert completion.context("/watch query-mig").kind == completion.COMMAND
    at_key = completion.context("/watch query-block-jobs interval=1 ")
    assert at_key.kind == completion.ARGUMENT
