#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
cargo nextest run --workspace --no-fail-fast "$@"
