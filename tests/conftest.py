"""Shared fixtures, and the settings of every run: the helpers are in ``tests/support``.

Every QEMU here is real (``qemu-system-x86_64`` under TCG); a test that needs a
fault QEMU cannot produce uses ``tests/support/fakeserver.py`` instead.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.fuzzcount import summary
from tests.support.guest_agent import GuestAgent, running_guest_agent
from tests.support.libvirt import Libvirt, libvirt_domain
from tests.support.qemu import QEMU, QEMU_IMG, Qemu, start_qemu, version
from tests.support.tmux import Terminal

# The fuzz properties' profile (tests/support/fuzzcount.py registers "quick"); pytest's
# --hypothesis-profile, read after this, wins.
settings.load_profile(os.environ.get("QMPSH_HYPOTHESIS_PROFILE", "default"))

_EMPTY_CONFIG = tempfile.mkdtemp(prefix="qmpsh-config")
_STATE = tempfile.mkdtemp(prefix="qmpsh-state")


def pytest_configure(config: pytest.Config) -> None:
    """The tester's own ``~/.config/qmpsh/config.toml`` must not change what tests see:
    every qmpsh a test starts (tmux panes included) reads an empty config directory
    unless the test gives it one."""
    os.environ["XDG_CONFIG_HOME"] = _EMPTY_CONFIG
    # Nor its history or schema cache: in-process sessions write to a directory of the run.
    os.environ["XDG_STATE_HOME"] = _STATE
    # The QEMU under test is also the one qmpsh --launch starts, with its own qemu-img.
    if os.environ.get("QMPSH_TEST_QEMU"):
        os.environ["QMPSH_QEMU"] = QEMU
    if os.environ.get("QMPSH_TEST_QEMU_IMG"):
        os.environ["QMPSH_QEMU_IMG"] = QEMU_IMG
    # A run started in the background by a shell without job control (``... &`` in a
    # script) inherits SIGINT ignored, and so would every qmpsh it starts, which then
    # rightly ignores Ctrl-C as under nohup: the tests that press it need qmpsh to get
    # it as from a terminal. Caught here, it is the default again in every child.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_EMPTY_CONFIG, ignore_errors=True)
    shutil.rmtree(_STATE, ignore_errors=True)


@pytest.fixture
def qemu() -> Iterator[Qemu]:
    """A ``-machine none`` QEMU: cheap, for everything that needs no guest hardware."""
    vm = start_qemu(disk=True)
    yield vm
    vm.stop()


@pytest.fixture(scope="session")
def libvirt() -> Iterator[Libvirt]:
    """A running libvirtd with a TCG test domain, for the whole run."""
    yield from libvirt_domain()


@pytest.fixture
def guest_agent() -> Iterator[GuestAgent]:
    """A real qemu-ga on a private socket."""
    yield from running_guest_agent()


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    """A tmux pane of its own, its server killed afterwards."""
    term = Terminal()
    yield term
    term.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many cases the fuzz properties generated (``tests/support/fuzzcount.py``),
    and, for dev/test.sh (QMPSH_TEST_SUMMARY names its file), the counts on this QEMU and Python."""
    for line in summary():
        terminalreporter.write_line(line)
    collected = os.environ.get("QMPSH_TEST_SUMMARY")
    if collected:
        stats = terminalreporter.stats
        kinds = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
        counts = ", ".join(f"{len(stats[kind])} {kind}" for kind in kinds if stats.get(kind))
        python = platform.python_version()
        line = f"QEMU {version()} ({QEMU}), Python {python}: {counts or 'no tests'}"
        terminalreporter.write_line(line)
        with open(collected, "a") as out:
            out.write(line + "\n")
