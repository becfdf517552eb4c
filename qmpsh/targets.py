"""Which transport serves a TARGET: the one place new kinds of target plug in.

``cli`` asks here for a transport (at start and again when reconnecting), so
a libvirt domain or anything else that speaks the ``Transport`` protocol only
needs an entry here, not changes across the program.
"""

from __future__ import annotations

from qmpsh.protocol import QmpTransport, Transport


def make_transport(target: str, *, negotiate: bool = True) -> Transport:
    """A not-yet-connected transport for TARGET (a socket path, HOST:PORT, [v6]:PORT)."""
    return QmpTransport(target, negotiate=negotiate)
