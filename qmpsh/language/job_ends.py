"""Pure: which events end a job or a migration in failure, and what failed.

``/wait`` fails on such an event (a script must not go on as if the job had succeeded)
and ``/jobs`` reports it: one rule for both. A module of its own because every script
that waits imports it, and ``language.progress`` (the rest of ``/jobs``) only the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from qmpsh.language.syntax import as_written

#: Events that can end a job or a migration in failure: the data key that says so, and
#: which of its values do (BLOCK_JOB_COMPLETED carries ``error`` only when the job failed).
FAILING: dict[str, tuple[str, Callable[[object], bool]]] = {
    "BLOCK_JOB_COMPLETED": ("error", lambda value: True),
    "JOB_STATUS_CHANGE": ("status", lambda value: value == "aborting"),
    "MIGRATION": ("status", lambda value: value == "failed"),
}


def failed(name: str, data: Mapping[str, object]) -> str | None:
    """What failed, in a few words, if the event ``name`` with ``data`` ends a job or the
    migration in failure; None if it does not."""
    rule = FAILING.get(name)
    if rule is None:
        return None
    key, says_failed = rule
    if key not in data or not says_failed(data[key]):
        return None
    if name == "BLOCK_JOB_COMPLETED":
        return f"job {as_written(data.get('device'))} failed: {as_written(data[key])}"
    if name == "JOB_STATUS_CHANGE":
        return f"job {as_written(data.get('id'))} is aborting"
    return "migration failed"
