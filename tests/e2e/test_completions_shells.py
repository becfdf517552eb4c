"""The completion scripts in the real shells: Debian's bash with bash-completion, zsh, fish.

Each shell loads the shipped script the way it would once installed (bash-
completion's loader from ``$XDG_DATA_HOME``, zsh's ``$fpath`` and compinit, fish's
``vendor_completions.d``) and is asked for candidates: fish through its own
``complete -C``, bash by calling the completion function as bash does, and both
bash and zsh by pressing Tab in an interactive shell in tmux. TARGET candidates
come from a config.toml with aliases and a real QEMU's sockets, next to a
regular file and a log that must not be offered.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from qmpsh.cli.shells import DIRECTORY, FILE_NAMES, completion_script
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh
from tests.support.shells import (
    BASH_COMPLETION,
    World,
    bash_candidates,
    fish_candidates,
    make_world,
    need,
    write_zshrc,
)
from tests.support.tmux import Terminal

pytestmark = pytest.mark.qemu

#: The sockets and the files that are not sockets in the QEMU's directory.
SOCKETS = {"qmp.sock", "spare.sock"}
NOT_SOCKETS = {"disk.qcow2", "qemu.log"}


@pytest.fixture
def world(qemu: Qemu, tmp_path: Path) -> World:
    """The scripts installed, and the sockets of a real QEMU next to two other files."""
    assert {p.name for p in qemu.directory.iterdir()} >= SOCKETS | NOT_SOCKETS
    return make_world(qemu.directory, tmp_path)


def test_shipped_scripts_are_what_qmpsh_generates_and_prints() -> None:
    for shell, name in FILE_NAMES.items():
        shipped = (DIRECTORY / name).read_text()
        assert shipped == completion_script(shell), (
            f"completions/{name} is stale: run python -m qmpsh.cli.shells --write"
        )
        done = run_qmpsh("--completions", shell)
        assert (done.returncode, done.stdout, done.stderr) == (0, shipped, "")
    done = run_qmpsh("--completions", "tcsh")
    assert done.returncode == 2 and "invalid choice" in done.stderr


# -- bash


def test_bash_completes_options_values_targets_and_files(world: World) -> None:
    qdir = str(world.places)
    got = bash_candidates(
        world,
        "qmpsh --co",
        "qmpsh --color ",
        "qmpsh --completions ",
        "qmpsh ",
        "qmpsh w",
        "qmpsh -p --timeout 3 ",
        "qmpsh qmp.sock ",
        "qmpsh -l ",
        "qmpsh -c ",
        "qmpsh --launch ",
        "qmpsh --launch -- -name x ",
    )
    assert got["qmpsh --co"] == {"--color", "--command", "--completions", "--connect"}
    assert got["qmpsh --color "] == {"auto", "always", "never"}
    assert got["qmpsh --completions "] == {"bash", "zsh", "fish"}
    files = SOCKETS | NOT_SOCKETS
    in_places = {f"{qdir}/{name}" for name in SOCKETS}
    # TARGET: aliases, sockets in the usual places, sockets here; never a plain file.
    assert got["qmpsh "] == {"web", "db-1"} | in_places | SOCKETS
    assert got["qmpsh w"] == {"web"}
    assert got["qmpsh -p --timeout 3 "] == got["qmpsh "]  # an option's value is not TARGET
    assert got["qmpsh qmp.sock "] == files  # after TARGET, a script file
    assert got["qmpsh -l "] == files
    assert got["qmpsh -c "] == set()  # a command: free text
    assert got["qmpsh --launch "] == files  # no TARGET with --launch
    assert got["qmpsh --launch -- -name x "] == files  # QEMU's own arguments


def test_bash_tab_in_a_real_interactive_shell(world: World) -> None:
    need("bash")
    rc = world.home / "bashrc"
    rc.write_text(f"source {BASH_COMPLETION}\nPS1='$ '\ncd {shlex.quote(str(world.places))}\n")
    term = Terminal()
    try:
        term.start(f"bash --noprofile --rcfile {shlex.quote(str(rc))} -i", env=world.env)
        term.wait_for(lambda s: s.rstrip().endswith("$"), "the bash prompt")
        for typed, completed in [
            ("qmpsh --comp", "qmpsh --completions "),
            ("qmpsh --color=ne", "qmpsh --color=never "),
            ("qmpsh sp", "qmpsh spare.sock "),
            ("qmpsh we", "qmpsh web "),
            ("qmpsh di", "qmpsh di"),  # disk.qcow2 is no socket
        ]:
            term.type(typed)
            term.press("Tab")
            term.type("#")  # a mark after whatever Tab did, so nothing can come late
            want = f"$ {completed}#"
            term.wait_for(
                lambda screen: screen.rstrip("\n").splitlines()[-1] == want,  # noqa: B023
                f"{typed!r} to complete to {completed!r}",
            )
            term.press("C-u")
    finally:
        term.close()


# -- zsh


def test_zsh_tab_lists_options_values_and_targets(world: World) -> None:
    env = write_zshrc(
        world, "zstyle ':completion:*' format '%d:'", f"cd {shlex.quote(str(world.places))}"
    )
    term = Terminal()
    try:
        term.start("zsh -d -i", env=env, height=50)
        term.wait_for(lambda s: s.rstrip().endswith("%"), "the zsh prompt")

        def listed(typed: str) -> set[str]:
            term.press("C-u")
            term.tmux("send-keys", "-t", term.target, "clear", "Enter")
            term.wait_for(lambda s: s.strip() == "%", "a clear screen")
            term.type(typed)
            term.press("Tab")
            screen = term.wait_for(lambda s: len(s.strip().splitlines()) > 1, "a listing")
            rows = screen.strip().splitlines()[1:]
            return {word for row in rows for word in row.split()}

        options = listed("qmpsh --co")
        assert {"--color", "--command", "--completions"} <= options
        assert "--timeout" not in options and "colour:" in options  # with their help
        assert {"auto", "always", "never"} <= listed("qmpsh --color ")
        # The script is loaded now: point its usual places at the QEMU's directory.
        qdir = shlex.quote(str(world.places))
        term.type(f"_qmpsh_places() {{ print -rl -- {qdir}/*(N) }}")
        term.press("Enter")
        targets = listed("qmpsh ")
        assert {"web", "db-1"} <= targets
        assert {f"{world.places}/{name}" for name in SOCKETS} <= targets
        assert {"qmp.sock=", "spare.sock="} <= targets  # zsh marks a socket with =
        assert not any(name in word for word in targets for name in NOT_SOCKETS)
        assert {"bash", "zsh", "fish"} <= listed("qmpsh --completions ")
    finally:
        term.close()


# -- fish


def test_fish_completes_options_values_targets_and_files(world: World) -> None:
    qdir = str(world.places)
    assert fish_candidates(world, "qmpsh --co") == {
        "--color",
        "--command",
        "--completions",
        "--connect",
    }
    assert fish_candidates(world, "qmpsh --color ") == {"auto", "always", "never"}
    assert fish_candidates(world, "qmpsh ") == {"web", "db-1"} | SOCKETS
    in_places = {f"{qdir}/{name}" for name in SOCKETS}
    assert fish_candidates(world, "qmpsh ", places=qdir) == {"web", "db-1"} | SOCKETS | (in_places)
    files = SOCKETS | NOT_SOCKETS
    assert fish_candidates(world, "qmpsh qmp.sock ") == files
    assert fish_candidates(world, "qmpsh -l ") == files
    assert fish_candidates(world, "qmpsh --timeout 3 ") == {"web", "db-1"} | SOCKETS
    assert fish_candidates(world, "qmpsh --launch ") == files
