"""Test points: where a signal's timing matters, a test can park qmpsh and send it there.

A signal that lands in a window of milliseconds (while modules import; after the
prompt's banner, before it reads keys) cannot be aimed at from outside by timing.
With ``QMPSH_TEST_PARK=POINT:FILE`` qmpsh creates FILE on reaching POINT and waits
there for SIGINT, SIGTERM or SIGHUP, which is then handled as if it had just come,
or for SIGUSR1, which only lets it go on (to see what happens to what was done
meanwhile, such as keys typed); without it, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
#: The signal that releases a parked qmpsh and is then forgotten.
GO_ON = signal.SIGUSR1


def park(point: str) -> None:
    spec = os.environ.get("QMPSH_TEST_PARK")
    if not spec:
        return
    where, _, path = spec.partition(":")
    if where != point:
        return
    # Blocked before FILE exists, so a signal sent as soon as it does is not missed.
    waited = {*_SIGNALS, GO_ON}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        with open(path, "w"):
            pass
        got = signal.sigwaitinfo(waited).si_signo
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
    if got != GO_ON:
        signal.raise_signal(got)
