"""Where a QMP monitor listens: a unix socket path, ``HOST:PORT`` or ``[v6addr]:PORT``."""

from __future__ import annotations

import re

Address = str | tuple[str, int]

_V6 = re.compile(r"\[([0-9A-Fa-f:.%\w]+)\]:([0-9]+)")
_HOST = re.compile(r"([^/:\[\]]+):([0-9]+)")


def parse_target(target: str) -> Address:
    """``/path``, ``HOST:PORT`` or ``[v6addr]:PORT`` -> a socket address."""
    for pattern in (_V6, _HOST):
        match = pattern.fullmatch(target)
        if match:
            return match.group(1), int(match.group(2))
    return target
