# bash completion for qmpsh. Generated from qmpsh's options by
# `python -m qmpsh.cli.shells --write`; `qmpsh --completions bash` prints it.

# Where QMP sockets usually live; only sockets among these are offered.
_qmpsh_places() {
    printf '%s\n' /run/libvirt/qemu/*.monitor /run/qemu/* /var/run/*.sock
}

_qmpsh_aliases() {
    local conf="${XDG_CONFIG_HOME:-$HOME/.config}/qmpsh/config.toml"
    [[ -r $conf ]] && sed -n -e 's/^[[:space:]]*\[[[:space:]]*targets\.\([A-Za-z0-9_-]\{1,\}\)[[:space:]]*\].*/\1/p' -e 's/^[[:space:]]*\[[[:space:]]*targets\."\([^"]\{1,\}\)"[[:space:]]*\].*/\1/p' "$conf"
}

# With --libvirt or --connect URI, TARGET is a running libvirt domain.
_qmpsh_domains() {
    local i uri=${LIBVIRT_DEFAULT_URI:-} libvirt=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --libvirt) libvirt=1 ;;
            --connect) libvirt=1 uri=${words[i + 1]} ;;
        esac
    done
    [[ $libvirt ]] || return 1
    COMPREPLY=($(compgen -W "$(virsh ${uri:+-c "$uri"} -q list --name 2>/dev/null)" -- "$cur"))
}

_qmpsh_target() {
    _qmpsh_domains && return
    local IFS=$'\n' f sockets=()
    while IFS= read -r f; do [[ -S $f ]] && sockets+=("$f"); done < <(_qmpsh_places)
    COMPREPLY=($(compgen -W "$(_qmpsh_aliases; printf '%s\n' "${sockets[@]}")" -- "$cur"))
    for f in $(compgen -f -- "$cur"); do
        [[ -d $f || -S $f ]] && COMPREPLY+=("$f")
    done
    compopt -o filenames
}

_qmpsh() {
    local cur prev words cword split
    _init_completion -s || return

    case $prev in
        --connect) :; return ;;
        -l|--logfile) _filedir; return ;;
        -c|--command) :; return ;;
        --timeout) :; return ;;
        --max-input) :; return ;;
        --all) :; return ;;
        --color) COMPREPLY=($(compgen -W 'auto always never' -- "$cur")); return ;;
        --completions) COMPREPLY=($(compgen -W 'bash zsh fish' -- "$cur")); return ;;
    esac
    $split && return

    local i positionals=0 launch=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --) _filedir; return ;;  # QEMU's own arguments
            --launch) launch=1 ;;
            --connect|-l|--logfile|-c|--command|--timeout|--max-input|--all|--color|--completions) ((i++)) ;;
            -*) ;;
            *) ((positionals++)) ;;
        esac
    done
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-h --help --launch --libvirt --connect -H --hmp -p --pretty -v --verbose -N --skip-negotiation -l --logfile --events --progress -c --command --json --return-value -k --keep-going --timeout --max-input --all --reconnect --color --no-pager --print-config --completions --version' -- "$cur"))
    elif ((positionals == 0)) && [[ ! $launch ]]; then
        _qmpsh_target
    else
        _filedir  # a script
    fi
} &&
    complete -F _qmpsh qmpsh
