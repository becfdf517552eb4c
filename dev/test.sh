#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs QEMU, qemu-img,
# tmux and a virtualenv with the dev extra, then runs ruff, mypy --strict,
# import-linter (the layers) and every test (real QEMU under TCG). Extra arguments go to pytest.
set -euo pipefail
QMPSH_SETUP_TEST=1 QMPSH_EXTRA="[dev]" source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
"$VENV/bin/ruff" check qmpsh tests benchmarks
"$VENV/bin/ruff" format --check qmpsh tests benchmarks
"$VENV/bin/mypy" --strict
"$VENV/bin/lint-imports"  # the layers of docs/architecture.md
"$VENV/bin/pytest" -q "$@"
