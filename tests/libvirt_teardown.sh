#!/usr/bin/env bash
# libvirt_teardown.sh WORKDIR DOMAIN... - undo libvirt_setup.sh: destroy and undefine the
# given domains and remove WORKDIR; then, once no domain runs any more (another test run
# may share the daemons), stop the daemons libvirt_setup.sh started (their pid files are
# in $QMPSH_LIBVIRT_STATE), and only those. libvirtd does not kill running QEMU guests
# when it exits, so domains go first.
set -u
WORKDIR=$1
shift
STATE=${QMPSH_LIBVIRT_STATE:-/tmp/qmpsh-libvirt-daemons}
export LIBVIRT_DEFAULT_URI=qemu:///system
if [ -S /run/libvirt/libvirt-sock ]; then
    for dom in "$@"; do
        virsh -q destroy "$dom" >/dev/null 2>&1
        virsh -q undefine "$dom" >/dev/null 2>&1
    done
fi
rm -rf "$WORKDIR"
[ -d "$STATE" ] || exit 0
running=$(timeout 5 virsh -q list --name 2>/dev/null | grep -c . || true)
if [ "$running" != 0 ]; then
    echo "libvirtd left running: $running domain(s) still use it"
    exit 0
fi
for daemon in libvirtd virtlogd; do
    pid=$(cat "$STATE/$daemon.pid" 2>/dev/null) || continue
    # only the daemon this pid file names (a stale file may name a recycled pid)
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$daemon" ] || continue
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
done
rm -rf "$STATE"
