"""The fuzz properties' settings, their profiles, and counts of the cases each ran.

``@fuzz(n)`` goes under ``@given``: it applies reproducible settings (``n``
examples, derandomized, no example database, no deadline) and counts every call
of the test body, so the summary shows what was really generated, not what was
asked for. ``tests/conftest.py`` prints ``summary()`` in its terminal summary.

``n`` is what the full run asks for (hypothesis's ``default`` profile, which the
README's test command runs). The ``quick`` profile, for a fast loop while
editing, asks every property for a tenth: chosen with pytest's
``--hypothesis-profile=quick`` or ``QMPSH_HYPOTHESIS_PROFILE=quick``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import ParamSpec

from hypothesis import HealthCheck, settings

P = ParamSpec("P")

#: The examples a plain ``@given`` runs in the full profile; ``n`` is scaled by the
#: current profile's examples against this.
FULL = settings.get_profile("default").max_examples
settings.register_profile("quick", max_examples=FULL // 10)
#: What the fuzz properties generate together in the full run, at least.
FULL_RUN_CASES = 10_000

#: test name -> test bodies run (generated, explicit and shrinking examples alike).
COUNTS: Counter[str] = Counter()
#: test name -> the examples asked for (``max_examples``, scaled to the profile).
ASKED: dict[str, int] = {}


def scale() -> float:
    """The share of the full run's examples the current profile asks for."""
    return settings().max_examples / FULL  # settings() holds the current profile


def scaled(examples: int) -> int:
    """``examples`` of the full run, in the current profile: for a property with its own
    ``@settings(max_examples=scaled(n))``."""
    return max(1, round(examples * scale()))


def fuzz(examples: int) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Settings for a fuzz property of ``examples`` cases in the full run, scaled to the
    current profile, and a counter of the examples it runs."""

    def decorate(test: Callable[P, None]) -> Callable[P, None]:
        name = test.__name__
        asked = ASKED[name] = scaled(examples)

        @functools.wraps(test)
        def counted(*args: P.args, **kwargs: P.kwargs) -> None:
            COUNTS[name] += 1
            test(*args, **kwargs)

        chosen = settings(
            max_examples=asked,
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
    profile = "" if scale() == 1 else f" (profile with {scale():.0%} of the full run's examples)"
    return [f"fuzz cases generated: {total} in {len(COUNTS)} properties{profile}", *lines]
