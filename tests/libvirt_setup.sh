#!/usr/bin/env bash
# libvirt_setup.sh WORKDIR DOMAIN... - a real libvirtd (QEMU driver) for the tests, as root,
# without systemd or KVM; then one tiny TCG domain per DOMAIN, defined and started.
#
# Its pitfalls, found the hard way, are noted below.
# Installs nothing: dev/setup.sh (QMPSH_SETUP_TEST=1) installs libvirt-daemon,
# libvirt-daemon-driver-qemu and libvirt-clients. Daemons already running (another test
# run, a developer's own) are used as they are. The ones this script starts keep their
# pid files, configuration and logs in $QMPSH_LIBVIRT_STATE (default
# /tmp/qmpsh-libvirt-daemons), so whichever run tears down last (libvirt_teardown.sh,
# when no domain runs any more) stops them, and only them. WORKDIR holds the domains'
# XML. Prints "ready" at the end.
set -euo pipefail
WORKDIR=$1
shift
STATE=${QMPSH_LIBVIRT_STATE:-/tmp/qmpsh-libvirt-daemons}
export LIBVIRT_DEFAULT_URI=qemu:///system
mkdir -p "$WORKDIR" "$STATE"
WORKDIR=$(cd "$WORKDIR" && pwd)
STATE=$(cd "$STATE" && pwd)  # the daemons chdir("/"): pid files must be absolute
for tool in libvirtd virtlogd virsh qemu-system-x86_64; do
    command -v "$tool" >/dev/null || {
        echo "$tool is missing; QMPSH_SETUP_TEST=1 dev/setup.sh installs it" >&2
        exit 1
    }
done

# Pitfall 1: without libvirt-daemon-system nothing creates the compiled-in QEMU user;
# the QEMU driver then fails with "Failed to parse user 'libvirt-qemu'".
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
    useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin -M libvirt-qemu
# Pitfall 2: run QEMU as root (as libvirt-qemu, a stale capabilities cache re-probes
# QEMU on every domain start, ~40 s).
mkdir -p /etc/libvirt
grep -qsE '^[[:space:]]*user[[:space:]]*=' /etc/libvirt/qemu.conf ||
    printf 'user = "root"\ngroup = "root"\n' >>/etc/libvirt/qemu.conf
# Pitfall 3: libvirtd -d exits if /var/log/libvirt is missing: log into STATE.
echo "log_outputs = \"3:file:$STATE/libvirtd.log\"" >"$STATE/libvirtd.conf"
echo "log_outputs = \"3:file:$STATE/virtlogd.log\"" >"$STATE/virtlogd.conf"

wait_sock() {
    for _ in $(seq 1 500); do
        [ -S "$1" ] && return 0
        sleep 0.02
    done
    echo "no socket $1" >&2
    return 1
}
answers() { [ -S "$1" ] && timeout 5 virsh -q version >/dev/null 2>&1; }

# Pitfall 4: QEMU's output goes through virtlogd; without it "virsh start" fails.
if ! [ -S /run/libvirt/virtlogd-sock ] || ! pgrep -x virtlogd >/dev/null; then
    rm -f /run/libvirt/virtlogd-sock
    virtlogd -d -f "$STATE/virtlogd.conf" -p "$STATE/virtlogd.pid"
    wait_sock /run/libvirt/virtlogd-sock
fi
# Pitfall 5: on some VMs the host CPUID differs per CPU, so the QEMU capabilities cache
# is "Outdated" whenever libvirtd lands on another core: pin the daemon to one CPU.
if ! answers /run/libvirt/libvirt-sock; then
    rm -f /run/libvirt/libvirt-sock
    taskset -c 0 libvirtd -d -f "$STATE/libvirtd.conf" -p "$STATE/libvirtd.pid"
    wait_sock /run/libvirt/libvirt-sock
fi
virsh -q list --all >/dev/null

for dom in "$@"; do
    cat >"$WORKDIR/$dom.xml" <<EOF
<domain type='qemu'>
  <name>$dom</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
    virsh dominfo "$dom" >/dev/null 2>&1 || virsh -q define "$WORKDIR/$dom.xml" >/dev/null
    [ "$(virsh domstate "$dom")" = running ] || virsh -q start "$dom" >/dev/null
done
echo ready
