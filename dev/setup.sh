#!/usr/bin/env bash
# Shared set-up for dev/try.sh and dev/test.sh on a fresh Debian machine:
# the Debian packages qmpsh needs (QEMU, qemu-img, Python's venv; for the tests also
# tmux, bash-completion, zsh, fish, groff, qemu-guest-agent and libvirt with its
# headers), then a virtualenv in .venv with qmpsh installed (editable) and the given extra.
# Sourced, not run: it leaves VENV set for the caller.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${QMPSH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
if [ "${QMPSH_SETUP_TEST:-0}" = 1 ]; then
    command -v tmux >/dev/null || need_apt+=(tmux)
    # The shell completion scripts are tested in the real shells.
    [ -r /usr/share/bash-completion/bash_completion ] || need_apt+=(bash-completion)
    command -v zsh >/dev/null || need_apt+=(zsh)
    command -v fish >/dev/null || need_apt+=(fish)
    command -v groff >/dev/null || need_apt+=(groff-base)  # the man page is rendered
    [ -x /usr/sbin/qemu-ga ] || need_apt+=(qemu-guest-agent)  # a real guest agent, -N
    # libvirt domains (tests/e2e/test_libvirt.py runs a real libvirtd with the QEMU driver),
    # and what pip needs to build libvirt-python (the dev extra) against it.
    command -v libvirtd >/dev/null || need_apt+=(libvirt-daemon)
    compgen -G '/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so' >/dev/null ||
        need_apt+=(libvirt-daemon-driver-qemu)
    command -v virsh >/dev/null || need_apt+=(libvirt-clients)
    # qemu+ssh:// (tests/e2e/test_libvirt_ssh.py starts an sshd of its own on its own port)
    [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
    command -v pkg-config >/dev/null || need_apt+=(pkg-config)
    pkg-config --exists libvirt 2>/dev/null || need_apt+=(libvirt-dev)
    command -v gcc >/dev/null || need_apt+=(gcc)
    [ -r "$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] ||
        need_apt+=(python3-dev)
fi
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "dev/setup: installing ${need_apt[*]} with apt-get" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# pip takes seconds even with nothing to do: skip it while the venv holds this
# pyproject.toml's install with this extra (any extra will do for none). The stamp
# has a line "HASH EXTRA" per install since pyproject.toml last changed.
stamp="$VENV/.qmpsh-installed"
hash="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
extra="${QMPSH_EXTRA:-}"
if [ -n "$extra" ]; then
    grep -qxF -- "$hash $extra" "$stamp" 2>/dev/null && installed=1 || installed=0
else
    grep -qF -- "$hash " "$stamp" 2>/dev/null && installed=1 || installed=0
fi
if [ "$installed" = 0 ]; then
    echo "dev/setup: pip install -e .$extra into $VENV (new venv or pyproject.toml changed)" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$extra"
    { grep -F -- "$hash " "$stamp" 2>/dev/null || true; echo "$hash $extra"; } >"$stamp.new"
    mv "$stamp.new" "$stamp"
fi
