#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages, the reference stack's images
# built without a registry: PostgreSQL, Redis and the reference service from its release
# binary), then runs every test of the workspace. The Docker tests run the real service image
# (KNEEPOINT_TEST_SERVICE_IMAGE); under CI=true a missing image fails them instead of skipping.
# The CLI tests run the release binary it builds first (KNEEPOINT_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
bash ci/start-services.sh
# Both release binaries: the service image needs one, ci/distributed-docker.sh the other, and the
# CLI tests run the release kneepoint (KNEEPOINT_BIN): the timing tests measure the engine as
# users run it.
cargo build --release --workspace --bins
export KNEEPOINT_BIN=${KNEEPOINT_BIN:-$PWD/target/release/kneepoint}
if docker info >/dev/null 2>&1; then
  bash ci/build-images.sh
  export KNEEPOINT_TEST_SERVICE_IMAGE=${KNEEPOINT_TEST_SERVICE_IMAGE:-${KNEEPOINT_SERVICE_IMAGE:-kneepoint/reference-service:local}}
fi
export KNEEPOINT_POSTGRES_IMAGE=${KNEEPOINT_POSTGRES_IMAGE:-kneepoint/postgres:15-bookworm}
export KNEEPOINT_REDIS_IMAGE=${KNEEPOINT_REDIS_IMAGE:-kneepoint/redis:7-bookworm}
cargo nextest run --workspace --no-fail-fast "$@"
