#!/usr/bin/env bash
# pytest under the Python of a Debian chroot that dev/qemu-chroots.sh set up (trixie: 3.13,
# sid: 3.14), against that chroot's QEMU:
#
#   dev/chroot-pytest.sh SUITE [PYTEST-ARGS...]
#
# qmpsh and the test tools are installed in the chroot's /opt/qmpsh-venv from wheels built
# here (pip wheel): pip inside the chroot has no access to the package registry. The tests
# run from this tree, bound at the same path in a private mount namespace with the host's
# /tmp. Needs root; sourced settings (VENV) come from dev/setup.sh.
set -euo pipefail
suite=${1:?usage: dev/chroot-pytest.sh SUITE [PYTEST-ARGS...]}
shift
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
r=/srv/$suite
[ -x "$r/usr/bin/python3" ] || { echo "chroot-pytest: no $r (dev/qemu-chroots.sh $suite)" >&2; exit 1; }

# qmpsh's wheel, then it and the test tools with their dependencies as wheels for the
# chroot's Python (some, e.g. hypothesis, are built per Python version).
version=$(chroot "$r" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
wheels=$(mktemp -d /tmp/qmpsh-wheels.XXXXXX)
trap 'rm -rf "$wheels"' EXIT
"$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$wheels" "$ROOT"
"$VENV/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    --python-version "$version" -d "$wheels" "$wheels"/qmpsh-*.whl pytest pytest-timeout hypothesis

# run COMMAND in the chroot, with the host's /tmp and this tree where the host has them
in_chroot() {
    unshare --mount --propagation private sh -c '
        r=$1 root=$2; shift 2
        mount --bind /tmp "$r/tmp" && mkdir -p "$r$root" && mount --bind "$root" "$r$root" &&
            exec chroot "$r" env -u QMPSH_TEST_QEMU -u QMPSH_TEST_QEMU_IMG -u QMPSH_QEMU \
                -u QMPSH_QEMU_IMG -u VIRTUAL_ENV -u PIP_FIND_LINKS PATH=/usr/local/bin:/usr/bin:/bin \
                sh -c "cd \"\$0\" && exec \"\$@\"" "$root" "$@"' in-chroot "$r" "$ROOT" "$@"
}

[ -x "$r/opt/qmpsh-venv/bin/python" ] || in_chroot python3 -m venv /opt/qmpsh-venv
in_chroot /opt/qmpsh-venv/bin/pip install -q --disable-pip-version-check --no-index \
    --find-links "$wheels" --force-reinstall qmpsh pytest pytest-timeout hypothesis
in_chroot /opt/qmpsh-venv/bin/python -m pytest -p no:cacheprovider "$@"
