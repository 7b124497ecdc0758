#!/usr/bin/env bash
# Open-model truth, side by side: kneepoint and oha (`-q RATE --latency-correction`) at the same
# arrival rates against the same loopback path of known latency, in one run. Prints, per rate
# and tool, the requests sent, late arrivals and the corrected (intended-start) percentiles;
# kneepoint's send-time ones too. Load goes to 127.0.0.1 only and every run is bounded.
#   RATES="100 1000 5000" DURATION=10 TARGET_PATH=/delay/1 bash ci/bench-open.sh
# KNEEPOINT=path and HELLO_TARGET=path use those binaries instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-100 1000 5000}
DURATION=${DURATION:-10}
TARGET_PATH=${TARGET_PATH:-/delay/1}
PORT=${PORT:-18081}
URL="http://127.0.0.1:$PORT"
command -v jq >/dev/null || bash ci/setup.sh
KNEEPOINT=${KNEEPOINT:-}
HELLO_TARGET=${HELLO_TARGET:-}
if [ -z "$KNEEPOINT" ] || [ -z "$HELLO_TARGET" ]; then
  cargo build --release --quiet --bin kneepoint --example hello_target
fi
KNEEPOINT=${KNEEPOINT:-target/release/kneepoint}
HELLO_TARGET=${HELLO_TARGET:-target/release/examples/hello_target}
export PATH="$HOME/.cargo/bin:$PATH"
work=$(mktemp -d)
"$HELLO_TARGET" "127.0.0.1:$PORT" 2>/dev/null &
tpid=$!
trap 'kill $tpid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

printf '%-10s %7s %9s %7s %9s %9s %9s %9s %9s\n' tool rate requests late% "lag max" \
  "sent p50" "sent p99" "corr p50" "corr p99"
for rate in $RATES; do
  cat > "$work/open.toml" <<TOML
name = "open-$rate"
[target]
base_url = "$URL"
[load]
model = "open"
rate = $rate
duration = "${DURATION}s"
[[transaction]]
name = "t"
[[transaction.request]]
path = "$TARGET_PATH"
TOML
  "$KNEEPOINT" run "$work/open.toml" --out "$work/kp-$rate" --quiet || true
  jq -r --arg rate "$rate" '
    def ms: . / 1000 | tostring | .[0:6];
    (.scopes[0].stats) as $s | .arrivals as $a |
    [ "kneepoint", $rate, $s.requests,
      (if $a.scheduled > 0 then ($a.late * 100 / $a.scheduled * 100 | round / 100) else 0 end),
      ($a.max_lag_us | ms), ($s.latency_us.p50 | ms), ($s.latency_us.p99 | ms),
      ($s.intended_latency_us.p50 | ms), ($s.intended_latency_us.p99 | ms) ]
    | @tsv' "$work/kp-$rate/results.json" |
    awk -F'\t' '{ printf "%-10s %7s %9s %7s %9s %9s %9s %9s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
  if command -v oha >/dev/null; then
    oha --no-tui -z "${DURATION}s" -q "$rate" --latency-correction --output-format json \
      "$URL$TARGET_PATH" > "$work/oha-$rate.json"
    jq -r --arg rate "$rate" '
      def ms: . * 1000 | tostring | .[0:6];
      [ "oha", $rate, ([.statusCodeDistribution[]] | add), "-", "-", "-", "-",
        (.latencyPercentiles.p50 | ms), (.latencyPercentiles.p99 | ms) ] | @tsv' \
      "$work/oha-$rate.json" |
      awk -F'\t' '{ printf "%-10s %7s %9s %7s %9s %9s %9s %9s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
  fi
done
echo "(latencies in ms; oha's are corrected with --latency-correction)"
