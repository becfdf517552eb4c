#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs QEMU, qemu-img,
# tmux and a virtualenv with the dev extra, then runs ruff, mypy --strict,
# import-linter (the layers) and every test (real QEMU under TCG). Then the tests that
# depend on QEMU's behaviour (marked every_qemu) again on each newer QEMU of
# QMPSH_TEST_SUITES (default "trixie sid": QEMU 10.0 and 11.1, in Debian chroots that
# dev/qemu-chroots.sh builds when run as root; without root, or without the archive,
# the run says what it skipped), and the pure, script and REPL tests under each chroot's
# Python (3.13, 3.14; dev/chroot-pytest.sh). Extra arguments go to every pytest.
# At the end: the counts on each QEMU and Python, and how long each part took.
set -euo pipefail
QMPSH_SETUP_TEST=1 QMPSH_EXTRA="[dev]" source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
"$VENV/bin/ruff" check qmpsh tests benchmarks
"$VENV/bin/ruff" format --check qmpsh tests benchmarks
"$VENV/bin/mypy" --strict
"$VENV/bin/lint-imports"  # the layers of docs/architecture.md

QMPSH_TEST_SUMMARY="$(mktemp)"
export QMPSH_TEST_SUMMARY
trap 'rm -f "$QMPSH_TEST_SUMMARY"' EXIT
failed=0
times=()

# part NAME COMMAND...: run it, note how long it took; a failure fails the run at the end.
part() {
    local name=$1 start=$SECONDS
    shift
    "$@" || failed=1
    times+=("$name: $((SECONDS - start)) s")
}

# The wrapper of SUITE's QEMU, set up (or checked) now; fails saying why not.
chroot_qemu() {
    local suite=$1
    if [ "$(id -u)" = 0 ]; then
        "$ROOT/dev/qemu-chroots.sh" "$suite" || {
            echo "dev/qemu-chroots.sh $suite failed (is the Debian archive reachable?)"
            return 1
        }
    elif ! /srv/bin/"qemu-$suite" --version >/dev/null 2>&1; then
        echo "not root: cannot set up /srv/$suite (run dev/qemu-chroots.sh as root)"
        return 1
    fi
}

part "whole suite, system QEMU" "$VENV/bin/pytest" -q "$@"
for suite in ${QMPSH_TEST_SUITES-trixie sid}; do
    if why=$(chroot_qemu "$suite" 2>&1); then
        echo "$why"
        part "every_qemu tests, $suite's QEMU" env QMPSH_TEST_QEMU="/srv/bin/qemu-$suite" \
            QMPSH_TEST_QEMU_IMG="/srv/bin/qemu-img-$suite" "$VENV/bin/pytest" -q -m every_qemu "$@"
        # qmpsh installed under the chroot's Python (3.13, 3.14), with its QEMU: the pure
        # tests, scripts, the prompt, and input past every limit (Python's own limits differ).
        part "pure, script and REPL tests, $suite's Python" "$ROOT/dev/chroot-pytest.sh" "$suite" \
            -q tests/unit tests/e2e/test_script_qemu.py tests/e2e/test_script_files.py \
            tests/e2e/test_script_ahead.py tests/e2e/test_repl.py tests/e2e/test_files_limits.py "$@"
    else
        echo "$suite's QEMU and Python: skipped: ${why##*$'\n'}" >>"$QMPSH_TEST_SUMMARY"
    fi
done

echo
echo "== per QEMU and Python"
cat "$QMPSH_TEST_SUMMARY"
echo "== time"
printf '%s\n' "${times[@]}"
exit "$failed"
