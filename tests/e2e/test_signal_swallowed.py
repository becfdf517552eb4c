"""A signal whose handler runs where Python swallows exceptions still ends the run.

A weakref callback (importlib's module locks use them) or a ``__del__`` that is
running when a signal's handler runs makes Python print "Exception ignored" and go
on: qmpsh would have waited on, in ``/wait``, as if nothing had come. The handler is
made to run exactly there: ``signal.raise_signal`` runs it at once, inside the callback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CODE = textwrap.dedent(
    """
    import signal, time, weakref
    from qmpsh.cli.main import handle_signals
    handle_signals()

    class Thing:
        pass

    thing = Thing()
    watcher = weakref.ref(thing, lambda _: signal.raise_signal(signal.{sig}))
    try:
        del thing  # the callback runs here, and the handler inside it
        time.sleep(10)
        print("went on")
    except BaseException as caught:
        print(type(caught).__mro__[1].__name__ if "{sig}" == "SIGINT" else type(caught).__name__)
    """
)


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGTERM", "SIGINT"])
def test_a_signal_swallowed_in_a_callback_is_raised_again(sig: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(sig=sig)], capture_output=True, text=True, timeout=60
    )
    expected = "KeyboardInterrupt" if sig == "SIGINT" else "Interrupted"
    assert (done.stdout, done.stderr) == (f"{expected}\n", "")
