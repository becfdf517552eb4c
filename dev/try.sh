#!/usr/bin/env bash
# Try qmpsh on a throwaway QEMU: installs what is missing, then `qmpsh --launch`.
# Extra arguments go to qmpsh, e.g. dev/try.sh -- -machine none
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$VENV/bin/qmpsh" --launch "$@"
