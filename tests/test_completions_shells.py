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

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from qmpsh.cli.shells import DIRECTORY, FILE_NAMES, completion_script
from tests.conftest import Qemu, run_qmpsh
from tests.test_tmux import Terminal

pytestmark = pytest.mark.qemu

BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
VENV_BIN = Path(sys.executable).parent  # where `qmpsh` is, so fish knows the command


def need(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.fail(f"{program} is not installed; the README's test command installs it")
    return found


@dataclass
class World:
    """A config with aliases, a directory of QMP sockets (a real QEMU's), installed scripts."""

    qemu: Qemu
    home: Path
    env: dict[str, str]

    @property
    def sockets(self) -> set[str]:
        return {"qmp.sock", "spare.sock"}

    @property
    def not_sockets(self) -> set[str]:
        return {"disk.qcow2", "qemu.log"}


@pytest.fixture
def world(qemu: Qemu, tmp_path: Path) -> World:
    assert qemu.image is not None and {p.name for p in qemu.directory.iterdir()} >= {
        "qmp.sock",
        "spare.sock",
        "disk.qcow2",
        "qemu.log",
    }
    return make_world(qemu, tmp_path)


def make_world(qemu: Qemu, tmp_path: Path) -> World:
    """The scripts installed where the shells look, a config with aliases, under ``tmp_path``."""
    config, data = tmp_path / "config", tmp_path / "data"
    (config / "qmpsh").mkdir(parents=True)
    (config / "qmpsh" / "config.toml").write_text(
        '[targets.web]\nsocket = "/run/web.sock"\n\n[targets."db-1"]\nsocket = "/run/db.sock"\n'
    )
    for where, shell in [
        ("bash-completion/completions", "bash"),
        ("zsh-functions", "zsh"),
        ("fish/vendor_completions.d", "fish"),
    ]:
        (data / where).mkdir(parents=True)
        shutil.copy(DIRECTORY / FILE_NAMES[shell], data / where)
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(config),
        "XDG_DATA_HOME": str(data),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "TERM": "xterm",
    }
    return World(qemu, tmp_path, env)


def test_shipped_scripts_are_what_qmpsh_generates_and_prints() -> None:
    for shell, name in FILE_NAMES.items():
        shipped = (DIRECTORY / name).read_text()
        assert shipped == completion_script(shell), (
            f"qmpsh/completions/{name} is stale: run python -m qmpsh.cli.shells --write"
        )
        done = run_qmpsh("--completions", shell)
        assert (done.returncode, done.stdout, done.stderr) == (0, shipped, "")
    done = run_qmpsh("--completions", "tcsh")
    assert done.returncode == 2 and "invalid choice" in done.stderr


# -- bash


BASH_HARNESS = r"""
source /usr/share/bash-completion/bash_completion
__load_completion qmpsh || { echo "qmpsh.bash was not loaded"; exit 1; }
complete -p qmpsh
_qmpsh_places() { printf '%s\n' "$PLACES"/*; }
compopt() { :; }  # a no-op outside a real Tab press; the candidates are what is tested
comp() {
    COMP_LINE=$1 COMP_POINT=${#1}
    read -ra COMP_WORDS <<<"$1"
    [[ $1 == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _qmpsh qmpsh "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '== %s\n' "$1"
    printf '%s\n' "${COMPREPLY[@]}"
}
"""


def bash_candidates(world: World, *lines: str) -> dict[str, set[str]]:
    """Candidates bash completion offers for each command line (cursor at the end)."""
    need("bash")
    assert BASH_COMPLETION.is_file(), "bash-completion is not installed (see dev/setup.sh)"
    script = BASH_HARNESS + "".join(f"comp {shlex.quote(line)}\n" for line in lines)
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=world.qemu.directory,
        env={**os.environ, **world.env, "PLACES": str(world.qemu.directory)},
    )
    assert done.returncode == 0 and done.stderr == "", done
    head, *cases = done.stdout.split("== ")
    assert head == "complete -F _qmpsh qmpsh\n"  # loaded the way bash-completion loads it
    found = {}
    for case in cases:
        line, _, rest = case.partition("\n")
        found[line] = {candidate for candidate in rest.splitlines() if candidate}
    return found


def test_bash_completes_options_values_targets_and_files(world: World) -> None:
    qdir = str(world.qemu.directory)
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
    files = world.sockets | world.not_sockets
    in_places = {f"{qdir}/{name}" for name in world.sockets}
    # TARGET: aliases, sockets in the usual places, sockets here; never a plain file.
    assert got["qmpsh "] == {"web", "db-1"} | in_places | world.sockets
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
    rc.write_text(
        f"source {BASH_COMPLETION}\nPS1='$ '\ncd {shlex.quote(str(world.qemu.directory))}\n"
    )
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
    need("zsh")
    functions = Path(world.env["XDG_DATA_HOME"]) / "zsh-functions"
    (world.home / ".zshrc").write_text(
        f"fpath=({shlex.quote(str(functions))} $fpath)\n"
        f"autoload -Uz compinit && compinit -u -d {shlex.quote(str(world.home / 'zcompdump'))}\n"
        "zstyle ':completion:*' format '%d:'\n"
        "PROMPT='%% '\n"
        f"cd {shlex.quote(str(world.qemu.directory))}\n"
    )
    term = Terminal()
    try:
        term.start("zsh -d -i", env={**world.env, "ZDOTDIR": str(world.home)}, height=50)
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
        qdir = shlex.quote(str(world.qemu.directory))
        term.type(f"_qmpsh_places() {{ print -rl -- {qdir}/*(N) }}")
        term.press("Enter")
        targets = listed("qmpsh ")
        assert {"web", "db-1"} <= targets
        assert {f"{world.qemu.directory}/{name}" for name in world.sockets} <= targets
        assert {"qmp.sock=", "spare.sock="} <= targets  # zsh marks a socket with =
        assert not any(name in word for word in targets for name in world.not_sockets)
        assert {"bash", "zsh", "fish"} <= listed("qmpsh --completions ")
    finally:
        term.close()


# -- fish


def fish_candidates(world: World, line: str, places: str = "") -> set[str]:
    need("fish")
    override = ""
    if places:  # after the script is loaded, point the usual places elsewhere
        override = (
            f"complete -C {shlex.quote('qmpsh ')} >/dev/null\n"
            f"function __qmpsh_places; for f in {shlex.quote(places)}/*; echo $f; end; end\n"
        )
    done = subprocess.run(
        ["fish", "-c", f"{override}complete -C {shlex.quote(line)}"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=world.qemu.directory,
        env={**os.environ, **world.env},
    )
    assert done.returncode == 0 and done.stderr == "", done
    return {row.split("\t")[0] for row in done.stdout.splitlines()}


def test_fish_completes_options_values_targets_and_files(world: World) -> None:
    qdir = str(world.qemu.directory)
    assert fish_candidates(world, "qmpsh --co") == {
        "--color",
        "--command",
        "--completions",
        "--connect",
    }
    assert fish_candidates(world, "qmpsh --color ") == {"auto", "always", "never"}
    assert fish_candidates(world, "qmpsh ") == {"web", "db-1"} | world.sockets
    in_places = {f"{qdir}/{name}" for name in world.sockets}
    assert fish_candidates(world, "qmpsh ", places=qdir) == {"web", "db-1"} | world.sockets | (
        in_places
    )
    files = world.sockets | world.not_sockets
    assert fish_candidates(world, "qmpsh qmp.sock ") == files
    assert fish_candidates(world, "qmpsh -l ") == files
    assert fish_candidates(world, "qmpsh --timeout 3 ") == {"web", "db-1"} | world.sockets
    assert fish_candidates(world, "qmpsh --launch ") == files
