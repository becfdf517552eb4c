"""Completion scripts for bash, zsh and fish, generated from qmpsh's own argparse options.

Generating them (rather than writing three by hand) keeps every option, its
help and the values it takes in step with ``arguments.build_parser``.
``qmpsh --completions SHELL`` prints one; the copies in the source tree's
top-level ``completions/`` ship in the wheel under ``share/`` (where shells look),
and a test fails when they are stale: ``python -m qmpsh.cli.shells --write``
renews them.

TARGET completes to aliases from config.toml, QMP sockets in the usual places
and sockets (and directories) under what is typed; a script, ``-l FILE`` and
QEMU's own arguments after ``--`` complete to files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from qmpsh.cli.parser import build_parser
from qmpsh.cli.settings import SHELLS

#: The name each shell looks for in its completion directory.
FILE_NAMES = {"bash": "qmpsh.bash", "zsh": "_qmpsh", "fish": "qmpsh.fish"}
#: The source tree's ``completions/`` (``--write`` is run from a checkout, not an install).
DIRECTORY = Path(__file__).resolve().parents[2] / "completions"
#: Where QMP sockets usually live (globs; only sockets among the matches are offered).
PLACES = ("/run/libvirt/qemu/*.monitor", "/run/qemu/*", "/var/run/*.sock")
#: sed program printing the alias names of config.toml's [targets.NAME] tables.
_ALIASES_SED = (
    r"-e 's/^[[:space:]]*\[[[:space:]]*targets\.\([A-Za-z0-9_-]\{1,\}\)[[:space:]]*\].*/\1/p' "
    r"""-e 's/^[[:space:]]*\[[[:space:]]*targets\."\([^"]\{1,\}\)"[[:space:]]*\].*/\1/p'"""
)
_CONF = "${XDG_CONFIG_HOME:-$HOME/.config}/qmpsh/config.toml"


@dataclass(frozen=True)
class Option:
    """One option as the shells need it."""

    flags: tuple[str, ...]
    help: str
    metavar: str = ""  # empty: a flag without a value
    choices: tuple[str, ...] = ()
    files: bool = False
    repeatable: bool = False


def options(parser: argparse.ArgumentParser) -> list[Option]:
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        help_text = (action.help or "") % {**vars(action), "prog": parser.prog}
        takes = action.nargs != 0
        metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        found.append(
            Option(
                flags=tuple(action.option_strings),
                help=help_text,
                metavar=metavar if takes else "",
                choices=tuple(str(c) for c in action.choices or ()),
                files=takes and (action.type is Path or metavar in ("FILE", "PATH")),
                repeatable=isinstance(action, argparse._AppendAction),
            )
        )
    return found


def completion_script(shell: str, parser: argparse.ArgumentParser | None = None) -> str:
    if parser is None:
        parser = build_parser()
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](options(parser))


def _valued(opts: list[Option]) -> list[str]:
    return [flag for opt in opts if opt.metavar for flag in opt.flags]


def _header(shell: str, comment: str = "#") -> str:
    return (
        f"{comment} {shell} completion for qmpsh. Generated from qmpsh's options by\n"
        f"{comment} `python -m qmpsh.cli.shells --write`; "
        f"`qmpsh --completions {shell}` prints it.\n"
    )


def _bash(opts: list[Option]) -> str:
    cases = []
    for opt in opts:
        if opt.choices:
            words = " ".join(opt.choices)
            action = f"COMPREPLY=($(compgen -W '{words}' -- \"$cur\"))"
        elif opt.files:
            action = "_filedir"
        elif opt.metavar:
            action = ":"  # free text
        else:
            continue
        cases.append(f"        {'|'.join(opt.flags)}) {action}; return ;;")
    flags = " ".join(flag for opt in opts for flag in opt.flags)
    case_lines = "\n".join(cases)
    return f"""{_header("bash")}
# Where QMP sockets usually live; only sockets among these are offered.
_qmpsh_places() {{
    printf '%s\\n' {" ".join(PLACES)}
}}

_qmpsh_aliases() {{
    local conf="{_CONF}"
    [[ -r $conf ]] && sed -n {_ALIASES_SED} "$conf"
}}

# With --libvirt or --connect URI, TARGET is a running libvirt domain.
_qmpsh_domains() {{
    local i uri=${{LIBVIRT_DEFAULT_URI:-}} libvirt=
    for ((i = 1; i < cword; i++)); do
        case ${{words[i]}} in
            --libvirt) libvirt=1 ;;
            --connect) libvirt=1 uri=${{words[i + 1]}} ;;
        esac
    done
    [[ $libvirt ]] || return 1
    COMPREPLY=($(compgen -W "$(virsh ${{uri:+-c "$uri"}} -q list --name 2>/dev/null)" -- "$cur"))
}}

_qmpsh_target() {{
    _qmpsh_domains && return
    local IFS=$'\\n' f sockets=()
    while IFS= read -r f; do [[ -S $f ]] && sockets+=("$f"); done < <(_qmpsh_places)
    COMPREPLY=($(compgen -W "$(_qmpsh_aliases; printf '%s\\n' "${{sockets[@]}}")" -- "$cur"))
    for f in $(compgen -f -- "$cur"); do
        [[ -d $f || -S $f ]] && COMPREPLY+=("$f")
    done
    compopt -o filenames
}}

_qmpsh() {{
    local cur prev words cword split
    _init_completion -s || return

    case $prev in
{case_lines}
    esac
    $split && return

    local i positionals=0 launch=
    for ((i = 1; i < cword; i++)); do
        case ${{words[i]}} in
            --) _filedir; return ;;  # QEMU's own arguments
            --launch) launch=1 ;;
            {"|".join(_valued(opts))}) ((i++)) ;;
            -*) ;;
            *) ((positionals++)) ;;
        esac
    done
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '{flags}' -- "$cur"))
    elif ((positionals == 0)) && [[ ! $launch ]]; then
        _qmpsh_target
    else
        _filedir  # a script
    fi
}} &&
    complete -F _qmpsh qmpsh
"""


def _zsh_quote(text: str) -> str:
    for char in "\\[]:":
        text = text.replace(char, "\\" + char)
    return text.replace("'", "'\\''")


def _zsh(opts: list[Option]) -> str:
    specs = []
    for opt in opts:
        help_text = _zsh_quote(opt.help)
        if opt.metavar:
            if opt.choices:
                what = f":{opt.metavar}:({' '.join(opt.choices)})"
            else:
                what = f":{opt.metavar}:{'_files' if opt.files else ' '}"
            names = [f"{f}=" if f.startswith("--") else f"{f}+" for f in opt.flags]
        else:
            what, names = "", list(opt.flags)
        if opt.repeatable:
            exclusive = "*"
        elif "--help" in opt.flags or "--version" in opt.flags:
            exclusive = "(- *)"
        else:
            exclusive = f"({' '.join(opt.flags)})"
        if len(names) == 1:
            specs.append(f"'{exclusive}{names[0]}[{help_text}]{what}'")
        else:
            specs.append(f"'{exclusive}'{{{','.join(names)}}}'[{help_text}]{what}'")
    spec_lines = "".join(f"    {spec} \\\n" for spec in specs)
    places = " ".join(f"{place}(N)" for place in PLACES)
    return f"""#compdef qmpsh
{_header("zsh")}
# Where QMP sockets usually live; only sockets among these are offered.
_qmpsh_places() {{
    print -rl -- {places}
}}

_qmpsh_aliases() {{
    local conf="{_CONF}"
    [[ -r $conf ]] && sed -n {_ALIASES_SED} "$conf"
}}

_qmpsh_target() {{
    if (( ${{words[(I)--launch]}} )); then
        _files
        return
    fi
    local at=${{words[(I)--connect]}} uri=${{LIBVIRT_DEFAULT_URI:-}}
    if (( at || ${{words[(I)--libvirt]}} )); then  # TARGET is a running libvirt domain
        (( at )) && uri=${{words[at + 1]}}
        local -a domains connect
        [[ -n $uri ]] && connect=(-c $uri)  # zsh does not split ${{uri:+-c $uri}}
        domains=(${{(f)"$(virsh $connect -q list --name 2>/dev/null)"}})
        _describe 'libvirt domain' domains
        return
    fi
    local -a aliases sockets
    local f
    aliases=(${{(f)"$(_qmpsh_aliases)"}})
    for f in ${{(f)"$(_qmpsh_places)"}}; do [[ -S $f ]] && sockets+=("$f"); done
    _alternative \\
        'aliases:alias (config.toml):compadd -a aliases' \\
        'sockets:QMP socket:compadd -a sockets' \\
        'files:QMP socket:_files -g "*(-=)"'
}}

_qmpsh() {{
    _arguments -s -S \\
{spec_lines}    '1:TARGET:_qmpsh_target' \\
    '*:file:_files'
}}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _qmpsh "$@"
else
    compdef _qmpsh qmpsh
fi
"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(opts: list[Option]) -> str:
    lines = []
    for opt in opts:
        parts = ["complete -c qmpsh"]
        for flag in opt.flags:
            parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
        if opt.choices:  # the values on a line of their own: no description repeated
            values = f"-x -a {_fish_quote(' '.join(opt.choices))}"
            lines.append(" ".join([*parts, values]))
            parts.append("-x")
        elif opt.files:
            parts.append("-r -F")
        elif opt.metavar:
            parts.append("-x")
        parts.append(f"-d {_fish_quote(opt.help)}")
        lines.append(" ".join(parts))
    valued = " ".join(_valued(opts))
    return f"""{_header("fish")}
# Where QMP sockets usually live; only sockets among these are offered.
function __qmpsh_places
    for f in {" ".join(PLACES)}
        echo $f
    end
end

function __qmpsh_aliases
    set -l conf $HOME/.config/qmpsh/config.toml
    set -q XDG_CONFIG_HOME[1]; and set conf $XDG_CONFIG_HOME/qmpsh/config.toml
    test -r $conf; and sed -n {_ALIASES_SED} $conf
end

function __qmpsh_targets
    set -l words (commandline -opc)
    if contains -- --libvirt $words; or contains -- --connect $words
        # TARGET is a running libvirt domain (at --connect URI, else the default URI)
        set -l uri $LIBVIRT_DEFAULT_URI
        set -l at (contains -i -- --connect $words)
        and set uri $words[(math $at + 1)]
        set -l connect
        test -n "$uri"; and set connect -c $uri
        for dom in (virsh $connect -q list --name 2>/dev/null)
            test -n "$dom"; and printf '%s\tlibvirt domain\n' $dom
        end
        return
    end
    for name in (__qmpsh_aliases)
        printf '%s\\talias\\n' $name
    end
    for f in (__qmpsh_places)
        test -S $f; and printf '%s\\tQMP socket\\n' $f
    end
    set -l token (commandline -ct)
    for f in $token*
        if test -d $f
            printf '%s/\\n' $f
        else if test -S $f
            printf '%s\\tQMP socket\\n' $f
        end
    end
end

# True while TARGET is still to come: no word but options (and their values) so far.
function __qmpsh_wants_target
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case '--' '--launch'
                return 1
            case {valued}
                set skip 1
            case '-*'
            case '*'
                return 1
        end
    end
    return 0
end

complete -c qmpsh -f
complete -c qmpsh -n __qmpsh_wants_target -a '(__qmpsh_targets)'
complete -c qmpsh -n 'not __qmpsh_wants_target' -F
{chr(10).join(lines)}
"""


def main(argv: list[str]) -> int:
    """``python -m qmpsh.cli.shells --write`` renews the shipped scripts; ``SHELL`` prints one."""
    if argv == ["--write"]:
        DIRECTORY.mkdir(exist_ok=True)
        for shell, name in FILE_NAMES.items():
            (DIRECTORY / name).write_text(completion_script(shell))
        return 0
    if len(argv) == 1 and argv[0] in SHELLS:
        sys.stdout.write(completion_script(argv[0]))
        return 0
    print("usage: python -m qmpsh.cli.shells --write | bash | zsh | fish", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
