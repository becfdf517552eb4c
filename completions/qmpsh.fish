# fish completion for qmpsh. Generated from qmpsh's options by
# `python -m qmpsh.cli.shells --write`; `qmpsh --completions fish` prints it.

# Where QMP sockets usually live; only sockets among these are offered.
function __qmpsh_places
    for f in /run/libvirt/qemu/*.monitor /run/qemu/* /var/run/*.sock
        echo $f
    end
end

function __qmpsh_aliases
    set -l conf $HOME/.config/qmpsh/config.toml
    set -q XDG_CONFIG_HOME[1]; and set conf $XDG_CONFIG_HOME/qmpsh/config.toml
    test -r $conf; and sed -n -e 's/^[[:space:]]*\[[[:space:]]*targets\.\([A-Za-z0-9_-]\{1,\}\)[[:space:]]*\].*/\1/p' -e 's/^[[:space:]]*\[[[:space:]]*targets\."\([^"]\{1,\}\)"[[:space:]]*\].*/\1/p' $conf
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
            test -n "$dom"; and printf '%s	libvirt domain
' $dom
        end
        return
    end
    for name in (__qmpsh_aliases)
        printf '%s\talias\n' $name
    end
    for f in (__qmpsh_places)
        test -S $f; and printf '%s\tQMP socket\n' $f
    end
    set -l token (commandline -ct)
    for f in $token*
        if test -d $f
            printf '%s/\n' $f
        else if test -S $f
            printf '%s\tQMP socket\n' $f
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
            case --connect -l --logfile -c --command --timeout --max-input --all --color --completions
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
complete -c qmpsh -s h -l help -d 'show this help message and exit'
complete -c qmpsh -l launch -d 'start a throwaway QEMU (TCG) and attach; it is stopped on exit'
complete -c qmpsh -l libvirt -d 'TARGET is a libvirt domain (at $LIBVIRT_DEFAULT_URI, else qemu:///system)'
complete -c qmpsh -l connect -x -d 'TARGET is a libvirt domain at URI (e.g. qemu+ssh://host/system)'
complete -c qmpsh -s H -l hmp -d 'start in HMP mode'
complete -c qmpsh -s p -l pretty -d 'indent JSON in scripts'
complete -c qmpsh -s v -l verbose -d 'show the JSON sent'
complete -c qmpsh -s N -l skip-negotiation -d 'no greeting or negotiation (a qemu-ga socket)'
complete -c qmpsh -s l -l logfile -r -F -d 'append a transcript: every message both ways, one JSON line each (0600)'
complete -c qmpsh -l events -d 'in scripts, print events too (as JSON lines, in order with the results)'
complete -c qmpsh -l progress -d 'in scripts, show the progress of jobs and migration /wait waits for on stderr even when it is not a terminal'
complete -c qmpsh -s c -l command -x -d 'run CMD and exit (repeatable; runs in order)'
complete -c qmpsh -l json -d 'print every message received (replies as sent, events) as one JSON line'
complete -c qmpsh -l return-value -d 'print return values as compact JSON, as scripts do, also on a terminal'
complete -c qmpsh -s k -l keep-going -d 'in scripts, go on after a failure (exit 1 at the end if any failed)'
complete -c qmpsh -l timeout -x -d 'how long to wait for the connection and greeting (default 5) and for each reply (default 60 in scripts, no limit at the prompt: Ctrl-C stops waiting)'
complete -c qmpsh -l max-input -x -d 'refuse a longer input: a script line, -c, a paste (default 1,048,576; QEMU parses a long command slowly, its monitor stalled meanwhile)'
complete -c qmpsh -l all -x -d 'run -c commands or a script on stdin on every TARGET at once (sockets, globs such as \'/run/vms/*.qmp\', aliases; domains or patterns with --libvirt); output tagged per target, exit status the worst of them'
complete -c qmpsh -l reconnect -d 'at the prompt, when QEMU goes away, wait for it to come back without asking (scripts never reconnect: they exit 4)'
complete -c qmpsh -l color -x -a 'auto always never'
complete -c qmpsh -l color -x -d 'colour: auto (on a terminal, unless NO_COLOR is set), always, never'
complete -c qmpsh -l no-pager -d 'print long replies straight to the terminal, not through $PAGER (less -R)'
complete -c qmpsh -l print-config -d 'show the effective settings and where each comes from, then exit'
complete -c qmpsh -l completions -x -a 'bash zsh fish'
complete -c qmpsh -l completions -x -d 'print the completion script for bash, zsh or fish, then exit'
complete -c qmpsh -l version -d 'show the versions of qmpsh, qemu.qmp and Python, then exit'
