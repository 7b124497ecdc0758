#!/usr/bin/env bash
# Installs what kneepoint's tests and benchmarks need on a Debian machine (idempotent, quiet).
# PostgreSQL and Redis (reference-service tests), wrk (generator benchmark), Chromium (report
# check), mmdebstrap (images built without a registry).
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v chromium >/dev/null || need+=(chromium)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v jq >/dev/null || need+=(jq)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "ci/setup.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts the packaged servers; the tests start their own on free ports.
for svc in postgresql redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
