"""The shipped completion scripts loaded into real shells: Debian's bash, zsh, fish.

``make_world`` installs the scripts where each shell looks once they are
installed and writes a config with two aliases; ``bash_candidates`` and
``fish_candidates`` ask the shells for the candidates of command lines, and
``write_zshrc`` sets zsh up for a Tab pressed in a ``tests.support.tmux`` pane.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from qmpsh.cli.shells import DIRECTORY, FILE_NAMES

BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
VENV_BIN = Path(sys.executable).parent  # where `qmpsh` is, so fish knows the command


def need(program: str) -> str:
    """The path of ``program``; the test fails if it is missing."""
    found = shutil.which(program)
    if found is None:
        raise AssertionError(f"{program} is not installed; the README's test command installs it")
    return found


@dataclass
class World:
    """A config with aliases, the scripts installed, a directory of QMP sockets."""

    places: Path  # where the sockets are, and the shells' working directory
    home: Path
    env: dict[str, str]


def make_world(places: Path, home: Path) -> World:
    """The scripts installed where the shells look, a config with aliases, under ``home``."""
    config, data = home / "config", home / "data"
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
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config),
        "XDG_DATA_HOME": str(data),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "TERM": "xterm",
    }
    return World(places, home, env)


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
        cwd=world.places,
        env={**os.environ, **world.env, "PLACES": str(world.places)},
    )
    assert done.returncode == 0 and done.stderr == "", done
    head, *cases = done.stdout.split("== ")
    assert head == "complete -F _qmpsh qmpsh\n"  # loaded the way bash-completion loads it
    found = {}
    for case in cases:
        line, _, rest = case.partition("\n")
        found[line] = {candidate for candidate in rest.splitlines() if candidate}
    return found


def fish_candidates(world: World, line: str, places: str = "") -> set[str]:
    """Candidates fish offers for ``line``; with ``places``, the usual places of sockets
    are that directory."""
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
        cwd=world.places,
        env={**os.environ, **world.env},
    )
    assert done.returncode == 0 and done.stderr == "", done
    return {row.split("\t")[0] for row in done.stdout.splitlines()}


def write_zshrc(world: World, *more: str) -> dict[str, str]:
    """A ``.zshrc`` loading the installed script, prompt ``%``, then the lines ``more``;
    the environment for ``zsh -d -i`` to read it."""
    need("zsh")
    functions = Path(world.env["XDG_DATA_HOME"]) / "zsh-functions"
    (world.home / ".zshrc").write_text(
        f"fpath=({shlex.quote(str(functions))} $fpath)\n"
        f"autoload -Uz compinit && compinit -u -d {shlex.quote(str(world.home / 'zcompdump'))}\n"
        "PROMPT='%% '\n" + "".join(line + "\n" for line in more)
    )
    return {**world.env, "ZDOTDIR": str(world.home)}
