"""Counts of the cases each fuzz property ran, printed at the end of the test run.

``@fuzz(n)`` goes under ``@given``: it applies reproducible settings (``n``
examples, derandomized, no example database, no deadline) and counts every call
of the test body, so the summary shows what was really generated, not what was
asked for. ``tests/conftest.py`` prints ``summary()`` in its terminal summary.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import ParamSpec

from hypothesis import HealthCheck, settings

P = ParamSpec("P")

#: test name -> test bodies run (generated, explicit and shrinking examples alike).
COUNTS: Counter[str] = Counter()
#: test name -> the examples asked for (``max_examples``).
ASKED: dict[str, int] = {}


def fuzz(examples: int) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Settings for a fuzz property, and a counter of the examples it runs."""

    def decorate(test: Callable[P, None]) -> Callable[P, None]:
        name = test.__name__
        ASKED[name] = examples

        @functools.wraps(test)
        def counted(*args: P.args, **kwargs: P.kwargs) -> None:
            COUNTS[name] += 1
            test(*args, **kwargs)

        chosen = settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        return chosen(counted)

    return decorate


def summary() -> list[str]:
    """Lines for the terminal summary; none when no fuzz property ran."""
    if not COUNTS:
        return []
    width = max(len(name) for name in COUNTS)
    lines = [f"{name:<{width}}  {COUNTS[name]:>6}" for name in sorted(COUNTS)]
    total = sum(COUNTS.values())
    return [f"fuzz cases generated: {total} in {len(COUNTS)} properties", *lines]
