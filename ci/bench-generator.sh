#!/usr/bin/env bash
# Generator benchmark: kneepoint vs wrk (and oha when installed) against the same loopback
# target, in one run, so the ratio means something on a shared machine. Prints requests/s and
# CPU time per request of each generator. Load goes to 127.0.0.1 only and every run is bounded.
#   DURATION=10 CONNS=50 bash ci/bench-generator.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
PORT=${PORT:-18080}
URL="http://127.0.0.1:$PORT"
command -v wrk >/dev/null && [ -x /usr/bin/time ] || bash ci/setup.sh
cargo build --release --quiet --bin kneepoint --example hello_target
work=$(mktemp -d)
target/release/examples/hello_target "127.0.0.1:$PORT" 2>/dev/null &
tpid=$!
trap 'kill $tpid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# cpu_seconds FILE: user + system seconds written by GNU time -f "%U %S".
cpu_seconds() { awk '{ print $1 + $2 }' "$1"; }
row() { # name requests seconds cpu
  awk -v n="$1" -v r="$2" -v s="$3" -v c="$4" 'BEGIN {
    printf "%-10s %12.0f req/s %8.2f µs CPU/request\n", n, r / s, c * 1e6 / r }'
}

/usr/bin/time -f "%U %S" -o "$work/wrk.time" \
  wrk -t2 -c"$CONNS" -d"${DURATION}s" "$URL/" > "$work/wrk.out"
wrk_requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
wrk_row=$(row wrk "$wrk_requests" "$DURATION" "$(cpu_seconds "$work/wrk.time")")

cat > "$work/bench.toml" <<TOML
name = "generator-bench"
[target]
base_url = "$URL"
[load]
users = $CONNS
duration = "${DURATION}s"
[[transaction]]
name = "hello"
[[transaction.request]]
path = "/"
TOML
/usr/bin/time -f "%U %S" -o "$work/kp.time" \
  target/release/kneepoint run "$work/bench.toml" --out "$work/kp" --quiet || true
kp_requests=$(jq '.scopes[0].stats.requests' "$work/kp/results.json")
kp_seconds=$(jq '.duration_s' "$work/kp/results.json")
kp_row=$(row kneepoint "$kp_requests" "$kp_seconds" "$(cpu_seconds "$work/kp.time")")

echo "$wrk_row"
echo "$kp_row"
if command -v oha >/dev/null; then
  /usr/bin/time -f "%U %S" -o "$work/oha.time" \
    oha --no-tui -c "$CONNS" -z "${DURATION}s" --output-format json "$URL/" > "$work/oha.json"
  oha_requests=$(jq '[.statusCodeDistribution[]] | add' "$work/oha.json")
  row oha "$oha_requests" "$DURATION" "$(cpu_seconds "$work/oha.time")"
fi
awk -v k="$kp_requests" -v ks="$kp_seconds" -v w="$wrk_requests" -v ws="$DURATION" 'BEGIN {
  printf "kneepoint/wrk requests/s ratio: %.2f\n", (k / ks) / (w / ws) }'
