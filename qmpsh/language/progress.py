"""Pure: what progress to show for running jobs and a migration, and how fast it goes.

The session polls ``query-jobs`` and ``query-migrate`` while something runs and
hands two samples in a row to ``progress``; rate and ETA come from what moved
between them, so they follow the job's pace now, not its average since it began.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qmpsh.language.job_ends import failed

#: A line as spans of (text, role in the palette; "" for none).
Styled = tuple[tuple[str, str], ...]
#: A line shown live (progress, ``/watch``): plain text, or styled spans.
Shown = str | Styled

#: How often the session polls while a job or a migration runs (seconds).
INTERVAL = 1.0

#: Job states that are over: nothing more will move (``query-jobs``'s ``status``).
_JOB_OVER = frozenset({"concluded", "null"})
#: Migration states in which nothing runs (``query-migrate``'s ``status``).
_MIGRATION_IDLE = frozenset({"none", "completed", "failed", "cancelled"})


@dataclass(frozen=True)
class Sample:
    """What ``query-jobs`` and ``query-migrate`` said at one moment (monotonic seconds)."""

    at: float
    jobs: tuple[Mapping[str, object], ...] = ()
    migration: Mapping[str, object] | None = None


def sample(at: float, jobs: object, migration: object) -> Sample:
    """A ``Sample`` from the two replies' return values, whatever their shape
    (None when a server has no such command)."""
    listed = tuple(j for j in jobs if isinstance(j, Mapping)) if isinstance(jobs, list) else ()
    return Sample(at, listed, migration if isinstance(migration, Mapping) else None)


@dataclass(frozen=True)
class Progress:
    """One running thing: a job (by its id) or the migration (``name`` "migration")."""

    name: str
    kind: str
    status: str
    done: int
    total: int
    #: Units per second since the sample before; None with no sample before.
    rate: float | None = None
    #: Seconds left at that rate; None when it cannot be told.
    eta: float | None = None
    #: The migration's RAM sent so far (zero pages cost it next to nothing, dirtied
    #: ones are sent again), its dirty rate (bytes/s) and expected downtime (ms).
    transferred: int = 0
    dirty_rate: float | None = None
    downtime: int | None = None
    error: str = ""

    @property
    def percent(self) -> int | None:
        """Whole percent done, rounded down (100 only once done); None without a total."""
        if self.total <= 0:
            return None
        return max(0, min(100, self.done * 100 // self.total))


def job_running(job: Mapping[str, object]) -> bool:
    return str(job.get("status", "")) not in _JOB_OVER


def migration_running(migration: Mapping[str, object] | None) -> bool:
    return migration is not None and str(migration.get("status", "none")) not in _MIGRATION_IDLE


def running(now: Sample) -> bool:
    """Whether anything in ``now`` is still moving: worth polling again."""
    return any(job_running(j) for j in now.jobs) or migration_running(now.migration)


def rate(before: float, after: float, seconds: float) -> float | None:
    """Units per second from ``before`` to ``after``; None if time did not pass or it
    went backwards (a restarted counter)."""
    if seconds <= 0 or after < before:
        return None
    return (after - before) / seconds


def eta(left: float, per_second: float | None) -> float | None:
    """Seconds until ``left`` units are done at ``per_second``; 0 once nothing is left."""
    if left <= 0:
        return 0.0
    if per_second is None or per_second <= 0:
        return None
    return left / per_second


def progress(before: Sample | None, now: Sample) -> tuple[Progress, ...]:
    """Every job in ``now`` that is not over, then the migration if it runs."""
    seconds = 0.0 if before is None else now.at - before.at
    earlier = {} if before is None else {str(j.get("id")): j for j in before.jobs}
    shown = [
        _job(job, earlier.get(str(job.get("id"))), seconds) for job in now.jobs if job_running(job)
    ]
    if now.migration is not None and migration_running(now.migration):
        earlier_migration = None if before is None else before.migration
        shown.append(_migration(now.migration, earlier_migration, seconds))
    return tuple(shown)


def _job(
    job: Mapping[str, object], before: Mapping[str, object] | None, seconds: float
) -> Progress:
    done, total = _int(job.get("current-progress")), _int(job.get("total-progress"))
    speed = None if before is None else rate(_int(before.get("current-progress")), done, seconds)
    return Progress(
        name=str(job.get("id", "?")),
        kind=str(job.get("type", "job")),
        status=str(job.get("status", "")),
        done=done,
        total=total,
        rate=speed,
        eta=eta(total - done, speed),
        error=str(job.get("error", "")),
    )


def _migration(
    now: Mapping[str, object], before: Mapping[str, object] | None, seconds: float
) -> Progress:
    ram = _ram(now)
    total, left = _int(ram.get("total")), _int(ram.get("remaining"))
    speed = None
    if before is not None:
        speed = rate(_int(_ram(before).get("transferred")), _int(ram.get("transferred")), seconds)
    dirty = ram.get("dirty-pages-rate")
    page = _int(ram.get("page-size")) or 4096
    downtime = now.get("expected-downtime")
    return Progress(
        name="migration",
        kind="migration",
        status=str(now.get("status", "")),
        done=max(0, total - left),
        total=total,
        rate=speed,
        eta=eta(left, speed),
        transferred=_int(ram.get("transferred")),
        dirty_rate=float(_int(dirty) * page) if isinstance(dirty, int) else None,
        downtime=downtime if isinstance(downtime, int) and not isinstance(downtime, bool) else None,
    )


def _ram(migration: Mapping[str, object]) -> Mapping[str, object]:
    ram = migration.get("ram")
    return ram if isinstance(ram, Mapping) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def size(count: float) -> str:
    """Bytes as a person reads them: ``512 B``, ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """``0:05``, ``12:30``, ``2:05:00``."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def line(shown: Progress) -> str:
    """One progress line: ``b0  backup  running  42%  1.7 MiB/4.0 MiB  512.0 KiB/s  ETA 0:05``;
    the migration's says ``RAM sent/total``, its dirty rate and expected downtime."""
    parts = [shown.name] if shown.name == shown.kind else [shown.name, shown.kind]
    parts.append(shown.status)
    if shown.percent is not None:
        parts.append(f"{shown.percent}%")
    if shown.name == "migration":
        parts.append(f"RAM {size(shown.transferred)}/{size(shown.total)}")
    else:
        parts.append(f"{size(shown.done)}/{size(shown.total)}")
    if shown.rate is not None:
        parts.append(f"{size(shown.rate)}/s")
    if shown.dirty_rate is not None:
        parts.append(f"dirty {size(shown.dirty_rate)}/s")
    if shown.downtime is not None:
        parts.append(f"downtime {shown.downtime} ms")
    if shown.eta is not None:
        parts.append(f"ETA {duration(shown.eta)}")
    if shown.error:
        parts.append(f"error: {shown.error}")
    return "  ".join(parts)


def lines(before: Sample | None, now: Sample) -> tuple[str, ...]:
    """The progress lines for ``now``: one per running job, then the migration."""
    return tuple(line(shown) for shown in progress(before, now))


#: How a job ended, once said: later status changes (concluded, null) do not undo it.
_FINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class Ended:
    """How one job, or the migration, ended: ``error`` is empty unless it failed."""

    name: str
    kind: str
    status: str
    error: str = ""

    @property
    def text(self) -> str:
        head = self.name if self.name == self.kind else f"{self.name}  {self.kind}"
        return f"{head}  {self.status}" + (f": {self.error}" if self.error else "")


def ended(
    watched: Mapping[str, Mapping[str, object]],
    latest: Sample | None,
    events: Iterable[Mapping[str, object]],
    migrated: bool,
) -> tuple[Ended, ...]:
    """How each job in ``watched`` (the last listing of each, by id), each job that
    ``events`` say ended, and the migration (if ``migrated``) ended. A job QEMU still
    lists (``auto-dismiss=false``) says so itself; one it dropped is told by its events:
    a job that fails and is dismissed at once is never seen listed."""
    jobs: dict[str, dict[str, str]] = {
        name: {"kind": str(job.get("type", "job")), "status": str(job.get("status", ""))}
        for name, job in watched.items()
    }
    migration = ""
    for message in events:
        data = message.get("data")
        if not isinstance(data, Mapping):
            continue
        name = str(message.get("event", ""))
        if name in ("BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR"):
            job = jobs.setdefault(str(data.get("device")), {"kind": "job", "status": ""})
            job["kind"] = str(data.get("type", job["kind"]))
            if name == "BLOCK_JOB_COMPLETED":
                job["status"] = "failed" if failed(name, data) else "completed"
                job["error"] = str(data.get("error", ""))
            elif name == "BLOCK_JOB_CANCELLED":
                job["status"] = "cancelled"
        elif name == "JOB_STATUS_CHANGE":
            job = jobs.setdefault(str(data.get("id")), {"kind": "job", "status": ""})
            status = "failed" if failed(name, data) else ""
            status = status or ("concluded" if data.get("status") == "concluded" else "")
            if status and job["status"] not in _FINAL:
                job["status"] = status
        elif name == "MIGRATION":
            migration = str(data.get("status", ""))
    listed = {} if latest is None else {str(j.get("id")): j for j in latest.jobs}
    ends = []
    for name, job in jobs.items():
        still = listed.get(name)
        if still is not None:  # QEMU's own word, while it keeps the job
            error = str(still.get("error", ""))
            status = "failed" if error else str(still.get("status", ""))
            ends.append(Ended(name, str(still.get("type", job["kind"])), status, error))
        else:
            status = job["status"] if job["status"] not in ("", "null") else "ended"
            ends.append(Ended(name, job["kind"], status, job.get("error", "")))
    if migrated or migration:
        state = latest.migration if latest is not None else None
        status = str(state.get("status", migration)) if state is not None else migration
        error = str(state.get("error-desc", "")) if state is not None else ""
        if status == "failed" and not error:
            error = "migration failed"
        ends.append(Ended("migration", "migration", status or "ended", error))
    return tuple(ends)
