#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages, the reference stack's images
# built without a registry: PostgreSQL, Redis and the reference service from its release
# binary), then runs every test of the workspace. The Docker tests run the real service image
# (KNEEPOINT_TEST_SERVICE_IMAGE); under CI=true a missing image fails them instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
bash ci/start-services.sh
if docker info >/dev/null 2>&1; then
  # Both release binaries: the service image needs one, ci/distributed-docker.sh the other.
  cargo build --release --workspace --bins
  bash ci/build-images.sh
  export KNEEPOINT_TEST_SERVICE_IMAGE=${KNEEPOINT_TEST_SERVICE_IMAGE:-${KNEEPOINT_SERVICE_IMAGE:-kneepoint/reference-service:local}}
fi
export KNEEPOINT_POSTGRES_IMAGE=${KNEEPOINT_POSTGRES_IMAGE:-kneepoint/postgres:15-bookworm}
export KNEEPOINT_REDIS_IMAGE=${KNEEPOINT_REDIS_IMAGE:-kneepoint/redis:7-bookworm}
cargo nextest run --workspace --no-fail-fast "$@"
