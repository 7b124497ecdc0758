#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages, the reference stack's
# PostgreSQL and Redis images built without a registry), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
bash ci/start-services.sh
if docker info >/dev/null 2>&1; then
  bash ci/build-images.sh --skip-service
fi
export KNEEPOINT_POSTGRES_IMAGE=${KNEEPOINT_POSTGRES_IMAGE:-kneepoint/postgres:15-bookworm}
export KNEEPOINT_REDIS_IMAGE=${KNEEPOINT_REDIS_IMAGE:-kneepoint/redis:7-bookworm}
cargo nextest run --workspace --no-fail-fast "$@"
