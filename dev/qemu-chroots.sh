#!/bin/bash
# Newer QEMUs (and Pythons) on an older Debian, in Debian chroots under /srv, TCG only.
# Idempotent: run it again any time; dev/test.sh runs it for the QEMUs it tests.
#
#   dev/qemu-chroots.sh [SUITE...]        set up /srv/SUITE for each SUITE (default: trixie sid)
#                                         with qemu-system-x86, qemu-utils, python3, python3-venv,
#                                         and the wrappers /srv/bin/qemu-SUITE and
#                                         /srv/bin/qemu-img-SUITE
#   dev/qemu-chroots.sh --umount [SUITE...]   unmount /proc, /sys, /dev of the chroots
#
# trixie is Debian 13 (QEMU 10.0, Python 3.13), sid is unstable (QEMU 11.1, Python 3.14).
# Needs root and Debian's archive through the mirror apt already uses; 1-1.5 min and
# about 600 MB each.
set -euo pipefail

SUITES_DEFAULT=(trixie sid)

mirror() {
    local m=""
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        # the first URIs of a stanza that is not the security archive
        m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
            /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }' \
            /etc/apt/sources.list)
    fi
    [ -n "$m" ] || { echo "qemu-chroots: no Debian mirror found in apt's sources" >&2; exit 1; }
    echo "${m%/}"
}

mount_chroot() {
    local r=$1
    mountpoint -q "$r/proc" || mount -t proc proc "$r/proc"
    mountpoint -q "$r/sys" || mount -t sysfs sysfs "$r/sys"
    mountpoint -q "$r/dev" || mount --bind /dev "$r/dev"
    mountpoint -q "$r/dev/pts" || mount --bind /dev/pts "$r/dev/pts"  # tests on a pty
}

umount_chroot() {
    local r=$1 m
    for m in dev/pts dev sys proc; do
        if mountpoint -q "$r/$m"; then umount "$r/$m" || umount -l "$r/$m"; fi
    done
}

# A wrapper runs PROGRAM in the chroot with the host's /tmp bound over the chroot's, in a
# private mount namespace that ends with it: qmpsh and the tests pass host paths under /tmp
# (a plain chroot cannot see them). Every step execs, so the PID is the program's own.
wrapper() {
    local name=$1 r=$2 program=$3 file=/srv/bin/$1
    mkdir -p /srv/bin
    cat >"$file.new" <<WRAPPER
#!/bin/sh
exec unshare --mount --propagation private sh -c 'mount --bind /tmp $r/tmp && exec chroot $r $program "\$@"' $name "\$@"
WRAPPER
    chmod 755 "$file.new"
    if cmp -s "$file.new" "$file"; then rm "$file.new"; else mv "$file.new" "$file"; fi
}

setup_suite() {
    local s=$1 r=/srv/$1 url
    url=$(mirror)
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    if [ ! -e "/usr/share/debootstrap/scripts/$s" ]; then
        ln -s sid "/usr/share/debootstrap/scripts/$s"  # e.g. forky on bookworm's debootstrap
    fi
    # An interrupted debootstrap leaves $r/debootstrap behind: start that chroot over.
    if [ -d "$r/debootstrap" ]; then
        umount_chroot "$r"
        rm -rf --one-file-system "$r"
    fi
    if [ ! -x "$r/usr/bin/apt-get" ]; then
        echo "qemu-chroots: debootstrap $s into $r" >&2
        debootstrap --variant=minbase "$s" "$r" "$url" >/dev/null
    fi
    case $s in
    sid | unstable | forky | testing)
        echo "deb $url $s main" >"$r/etc/apt/sources.list" ;;
    *)
        local sec=${url%/debian}/debian-security
        printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
            "$url" "$s" "$url" "$s" "$sec" "$s" >"$r/etc/apt/sources.list" ;;
    esac
    # A mirror frozen in time serves Release files past their Valid-Until (sid's is 7 days).
    echo 'Acquire::Check-Valid-Until "false";' >"$r/etc/apt/apt.conf.d/99no-check-valid-until"
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"  # no daemons started
    chmod 755 "$r/usr/sbin/policy-rc.d"
    mount_chroot "$r"
    if ! chroot "$r" sh -c 'command -v qemu-system-x86_64 && command -v qemu-img &&
            python3 -c "import ensurepip, venv"' >/dev/null 2>&1; then
        echo "qemu-chroots: apt-get install QEMU and Python in $r" >&2
        chroot "$r" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -c \
            'apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                qemu-system-x86 qemu-utils python3 python3-venv' >/dev/null
    fi
    wrapper "qemu-$s" "$r" /usr/bin/qemu-system-x86_64
    wrapper "qemu-img-$s" "$r" /usr/bin/qemu-img
    echo "qemu-chroots: $s: $(chroot "$r" qemu-system-x86_64 --version | head -1)," \
        "$(chroot "$r" python3 --version)" >&2
}

[ "$(id -u)" = 0 ] || { echo "qemu-chroots: run as root" >&2; exit 1; }
case ${1:-} in
--umount)
    shift
    for s in "${@:-${SUITES_DEFAULT[@]}}"; do umount_chroot "/srv/$s"; done ;;
*)
    for s in "${@:-${SUITES_DEFAULT[@]}}"; do setup_suite "$s"; done ;;
esac
