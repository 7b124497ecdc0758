#!/usr/bin/env bash
# Generator benchmark: kneepoint against oha and wrk (and hey when it is on PATH), all aimed at
# the same loopback target (the `hello_target` example, path `/`) in one invocation, so the
# ratios mean something on a shared machine.
#
# Default mode: RUNS rounds; each round runs kneepoint, oha, wrk (, hey) one after the other for
# DURATION seconds at CONNS connections. For every tool and round it measures requests/s, CPU
# time per request (user + system, from GNU time), p50 and p99 latency and the generator's max
# RSS. It prints the per-round rows, then per tool the median over the rounds with the spread
# (min-max), then kneepoint/oha and kneepoint/wrk ratios of the medians.
#
# Memory mode (MEMORY=1): kneepoint and oha only, each for a fixed count of 100 000 and then
# 1 000 000 requests at CONNS connections; prints each one's max RSS, the 1M/100k growth and
# kneepoint/oha at 1M. (A flat 1M/100k means memory does not grow with the run's length.)
#
# Each tool's latency is its own measure (kneepoint: µs from results.json; oha: s; wrk: us/ms/s;
# hey: 0.1 ms steps), converted to ms. RSS is GNU time's %M (KiB), shown in MiB.
#
# It only prints: it never asserts a timing, so `DURATION=1 RUNS=1` is a quick smoke test.
# Load goes to 127.0.0.1 only and every run is bounded by `timeout`. It kills only what it
# started: the target on exit, and on Ctrl-C/TERM the process group of the tool then running.
#
# Environment:
#   DURATION=6       seconds per tool per round
#   CONNS=50         connections (kneepoint users, oha/hey -c, wrk -c)
#   RUNS=3           rounds
#   PORT=18080       loopback port of the target (must be free)
#   MEMORY=0         1: the fixed-request-count memory mode instead
#   KNEEPOINT=PATH   kneepoint binary to use (not built); default: cargo builds target/release/
#   HELLO_TARGET=PATH  target binary to use (not built); default: cargo builds the example
#   TARGET_PATH=/    path on the target; `/delay/1` (1 ms by construction) with few connections
#                    checks that the generator's own cost does not read as latency
#
#   bash ci/bench-generator.sh
#   DURATION=10 CONNS=100 RUNS=5 bash ci/bench-generator.sh
#   MEMORY=1 KNEEPOINT=/tmp/kneepoint HELLO_TARGET=/tmp/hello_target bash ci/bench-generator.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
DURATION=${DURATION:-6}
CONNS=${CONNS:-50}
RUNS=${RUNS:-3}
PORT=${PORT:-18080}
MEMORY=${MEMORY:-0}
TARGET_PATH=${TARGET_PATH:-/}
URL="http://127.0.0.1:$PORT$TARGET_PATH"
MEMORY_COUNTS=(100000 1000000)
MEMORY_LIMIT=600 # seconds allowed for one fixed-count run

die() { echo "bench-generator: $*" >&2; exit 1; }
for knob in DURATION CONNS RUNS PORT; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, got '${!knob}'"
done
[[ $TARGET_PATH == /* ]] || die "TARGET_PATH must start with /, got '$TARGET_PATH'"

if ! { command -v wrk && command -v jq && [ -x /usr/bin/time ]; } >/dev/null; then bash ci/setup.sh; fi

build=()
if [ -z "${KNEEPOINT:-}" ]; then KNEEPOINT=target/release/kneepoint; build+=(--bin kneepoint); fi
if [ -z "${HELLO_TARGET:-}" ]; then
  HELLO_TARGET=target/release/examples/hello_target
  build+=(--example hello_target)
fi
if [ ${#build[@]} -gt 0 ]; then cargo build --release --quiet "${build[@]}"; fi
[ -x "$KNEEPOINT" ] || die "kneepoint binary not executable: $KNEEPOINT"
[ -x "$HELLO_TARGET" ] || die "target binary not executable: $HELLO_TARGET"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
port_open && die "127.0.0.1:$PORT is already in use; set PORT to a free port"

work=$(mktemp -d)
tpid=""   # the target
runner="" # the `timeout` of the tool running now (see timed)
stop() { # stop PID: TERM to a process this script started, then reap it.
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  if [ -n "$runner" ]; then # timeout leads its own process group: the tool and GNU time
    kill -KILL -- -"$runner" 2>/dev/null || kill -KILL "$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
  fi
  if [ -n "$tpid" ]; then stop "$tpid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "bench-generator: interrupted" >&2; exit 130' INT TERM
"$HELLO_TARGET" "127.0.0.1:$PORT" 2>/dev/null &
tpid=$!
for _ in $(seq 100); do port_open && break; sleep 0.1; done
if ! port_open || ! kill -0 "$tpid" 2>/dev/null; then die "target did not start on 127.0.0.1:$PORT"; fi

# timed NAME LIMIT CMD...: runs CMD (stdout to $work/NAME.out, stderr to $work/NAME.err) for at
# most LIMIT seconds under GNU time, which writes "user sys maxrss_kib" to $work/NAME.time.
# It runs in the background and is waited for, so that Ctrl-C interrupts `wait` and runs our
# trap at once (bash defers a trap while a foreground command runs, and drops SIGINT when that
# command exits normally); `timeout` runs CMD in its own process group and passes our TERM on.
timed() {
  local name=$1 limit=$2
  shift 2
  timeout -k 5 "$limit" /usr/bin/time -f "%U %S %M" -o "$work/$name.time" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  runner=$!
  wait "$runner" || true
  runner=""
}
# usage NAME: "cpu_seconds rss_kib" from the last line of $work/NAME.time (GNU time puts a
# "Command exited with non-zero status" line before it when the command failed).
usage() { tail -n 1 "$work/$1.time" | awk 'NF == 3 { print $1 + $2, $3 }'; }
# fail NAME WHAT: says why a run gave no row, with the start of its stderr.
fail() {
  echo "  ($2 failed: no result; stderr follows)" >&2
  head -n 5 "$work/$1.err" >&2 || true
  return 1
}

scenario() { # scenario FILE LOAD_LINES...: a closed-model scenario of GET / at CONNS users.
  local file=$1
  shift
  {
    echo 'name = "generator-bench"'
    echo '[target]'
    echo "base_url = \"http://127.0.0.1:$PORT\""
    echo '[load]'
    echo "users = $CONNS"
    printf '%s\n' "$@"
    echo '[[transaction]]'
    echo 'name = "hello"'
    echo '[[transaction.request]]'
    echo "path = \"$TARGET_PATH\""
  } >"$file"
}

# Every tool function below: run NAME LIMIT [extra args], then print one tab-separated line
#   requests  seconds  errors  p50_ms  p99_ms  cpu_seconds  rss_kib
# (requests counts answered requests; req/s = requests / seconds) or return 1. oha's requests
# cut off at the deadline ("aborted due to deadline") are neither requests nor errors.

run_kneepoint() { # NAME LIMIT SCENARIO
  timed "$1" "$2" "$KNEEPOINT" run "$3" --out "$work/$1.dir" --quiet || true
  [ -s "$work/$1.dir/results.json" ] || { fail "$1" kneepoint; return 1; }
  printf '%s\t%s\n' "$(jq -r '(.scopes[0].stats) as $s |
      [$s.requests, .duration_s, $s.errors, $s.latency_us.p50 / 1000, $s.latency_us.p99 / 1000]
      | map(tostring) | join("\t")' "$work/$1.dir/results.json")" "$(usage "$1" | tr ' ' '\t')"
}

run_oha() { # NAME LIMIT oha-load-args...
  local name=$1 limit=$2
  shift 2
  timed "$name" "$limit" oha --no-tui -c "$CONNS" "$@" --output-format json "$URL" || true
  jq -e .summary "$work/$name.out" >/dev/null 2>&1 || { fail "$name" oha; return 1; }
  printf '%s\t%s\n' "$(jq -r '
      ([.statusCodeDistribution[]] | add // 0) as $ok |
      [$ok, .summary.total,
       (.errorDistribution | del(.["aborted due to deadline"]) | [.[]] | add // 0),
       .latencyPercentiles.p50 * 1000, .latencyPercentiles.p99 * 1000]
      | map(tostring) | join("\t")' "$work/$name.out")" "$(usage "$name" | tr ' ' '\t')"
}

run_wrk() { # NAME LIMIT
  local threads=2
  [ "$CONNS" -ge 2 ] || threads=1
  timed "$1" "$2" wrk -t"$threads" -c"$CONNS" -d"${DURATION}s" --latency "$URL" || true
  grep -q '^Requests/sec:' "$work/$1.out" || { fail "$1" wrk; return 1; }
  awk -v usage="$(usage "$1")" '
    function ms(v) { # wrk prints 635.00us, 1.25ms, 2.00s, 1.00m
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; return v * 1000 }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50% / { p50 = ms($2) }
    /^ +99% / { p99 = ms($2) }
    /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    END { split(usage, u, " ")
      printf "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", requests, requests / rps, errors, p50, p99, u[1], u[2] }
  ' "$work/$1.out"
}

run_hey() { # NAME LIMIT
  timed "$1" "$2" hey -z "${DURATION}s" -c "$CONNS" "$URL" || true
  grep -q 'Requests/sec:' "$work/$1.out" || { fail "$1" hey; return 1; }
  awk -v usage="$(usage "$1")" '
    /Requests\/sec:/ { rps = $2 }
    /^ +50% in / { p50 = $3 * 1000 }
    /^ +99% in / { p99 = $3 * 1000 }
    /^Status code distribution:/ { section = "status"; next }
    /^Error distribution:/ { section = "error"; next }
    section == "status" && /^ +\[[0-9]+\]/ { requests += $2 }
    section == "error" && /^ +\[[0-9]+\]/ { errors += substr($1, 2) }
    END { split(usage, u, " ")
      printf "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", requests, requests / rps, errors, p50, p99, u[1], u[2] }
  ' "$work/$1.out"
}

# ---------------------------------------------------------------------------------------------
if [ "$MEMORY" = 1 ]; then
  echo "== memory: max RSS at a fixed request count, $CONNS connections, target $URL =="
  have_oha=1
  command -v oha >/dev/null || { have_oha=0; echo "oha: not installed (cargo install oha), skipped"; }
  printf '%-10s %9s %8s %7s %9s %9s %9s\n' tool requests seconds errors "p50 ms" "p99 ms" "RSS MiB"
  : >"$work/memory.tsv"
  for n in "${MEMORY_COUNTS[@]}"; do
    scenario "$work/kp-$n.toml" "iterations = $n" 'duration = "300s"'
    if run_kneepoint "kp-$n" "$MEMORY_LIMIT" "$work/kp-$n.toml" >"$work/row"; then
      printf 'kneepoint\t%s\t%s\n' "$n" "$(cat "$work/row")" >>"$work/memory.tsv"
    fi
    if [ "$have_oha" = 1 ] && run_oha "oha-$n" "$MEMORY_LIMIT" -n "$n" >"$work/row"; then
      printf 'oha\t%s\t%s\n' "$n" "$(cat "$work/row")" >>"$work/memory.tsv"
    fi
  done
  awk -F'\t' -v small="${MEMORY_COUNTS[0]}" -v big="${MEMORY_COUNTS[1]}" '
    { printf "%-10s %9d %8.1f %7d %9.3f %9.3f %9.1f\n", $1, $3, $4, $5, $6, $7, $9 / 1024
      rss[$1 "/" $2] = $9 }
    function ratio(what, a, b) {
      if ((a in rss) && (b in rss) && rss[b] > 0) printf "  %-32s %6.2f\n", what, rss[a] / rss[b]
      else printf "  %-32s %6s\n", what, "n/a" }
    END {
      print "max RSS ratios:"
      ratio("kneepoint 1M / 100k", "kneepoint/" big, "kneepoint/" small)
      ratio("oha 1M / 100k", "oha/" big, "oha/" small)
      ratio("kneepoint / oha at 1M", "kneepoint/" big, "oha/" big) }' "$work/memory.tsv"
  exit 0
fi

tools=(kneepoint)
if command -v oha >/dev/null; then tools+=(oha); else echo "oha: not installed (cargo install oha), skipped"; fi
tools+=(wrk)
if command -v hey >/dev/null; then tools+=(hey); else echo "hey: not on PATH, skipped"; fi
limit=$((DURATION + 60))
scenario "$work/bench.toml" "duration = \"${DURATION}s\""

echo "== $RUNS round(s) of ${tools[*]}: ${DURATION}s each at $CONNS connections, target $URL =="
row_format='%-5s %-10s %10s %10s %7s %9s %9s %9s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$row_format" round tool "req/s" "CPU us/req" errors "p50 ms" "p99 ms" "RSS MiB"
: >"$work/rows.tsv"
for round in $(seq "$RUNS"); do
  for tool in "${tools[@]}"; do
    case $tool in
      kneepoint) run_kneepoint "$tool-$round" "$limit" "$work/bench.toml" >"$work/row" || continue ;;
      oha) run_oha "$tool-$round" "$limit" -z "${DURATION}s" >"$work/row" || continue ;;
      wrk) run_wrk "$tool-$round" "$limit" >"$work/row" || continue ;;
      hey) run_hey "$tool-$round" "$limit" >"$work/row" || continue ;;
    esac
    # tool round req/s cpu_us_per_request errors p50_ms p99_ms rss_mib
    printf '%s\t%s\t%s\n' "$tool" "$round" "$(cat "$work/row")" | awk -F'\t' -v OFS='\t' '{
      print $1, $2, $3 / $4, ($3 > 0 ? $8 * 1e6 / $3 : 0), $5, $6, $7, $9 / 1024 }' |
      tee -a "$work/rows.tsv" |
      awk -F'\t' '{ printf "%-5s %-10s %10.0f %10.2f %7d %9.3f %9.3f %9.1f\n", $2, $1, $3, $4, $5, $6, $7, $8 }'
  done
done

echo
echo "== median (min-max) over $RUNS round(s) =="
awk -F'\t' -v order="${tools[*]}" '
  function sort(a, n,   i, j, t) { # insertion sort of a[1..n] (mawk has no asort)
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
  function stat(tool, col,   a, i, n) { # median, min and max of a column over the rounds
    n = count[tool]
    for (i = 1; i <= n; i++) a[i] = v[tool, i, col] + 0
    sort(a, n)
    med[tool, col] = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    lo[tool, col] = a[1]; hi[tool, col] = a[n] }
  function cell(tool, col, fmt) {
    return sprintf(fmt " (" fmt "-" fmt ")", med[tool, col], lo[tool, col], hi[tool, col]) }
  { n = ++count[$1]; for (c = 3; c <= 8; c++) v[$1, n, c] = $c }
  function ratios(peer) {
    if (!(("kneepoint" in count) && (peer in count))) {
      printf "kneepoint/%-4s n/a (no result from one of them)\n", peer; return }
    printf "kneepoint/%-4s req/s %.2f   CPU/request %.2f   p50 %.2f   p99 %.2f   RSS %.2f\n", peer,
      med["kneepoint", 3] / med[peer, 3], med["kneepoint", 4] / med[peer, 4],
      med["kneepoint", 6] / med[peer, 6], med["kneepoint", 7] / med[peer, 7],
      med["kneepoint", 8] / med[peer, 8] }
  END {
    printf "%-10s %-22s %-22s %-22s %-22s %s\n", "tool", "req/s", "CPU us/request", "p50 ms", "p99 ms", "RSS MiB"
    nt = split(order, tools, " ")
    for (t = 1; t <= nt; t++) {
      tool = tools[t]
      if (!(tool in count)) { printf "%-10s no successful run\n", tool; continue }
      for (c = 3; c <= 8; c++) stat(tool, c)
      printf "%-10s %-22s %-22s %-22s %-22s %s\n", tool, cell(tool, 3, "%.0f"),
        cell(tool, 4, "%.2f"), cell(tool, 6, "%.3f"), cell(tool, 7, "%.3f"), cell(tool, 8, "%.1f") }
    print ""
    print "ratios of the medians (req/s above 1: kneepoint faster; CPU, p50, p99, RSS below 1: kneepoint lighter):"
    ratios("oha"); ratios("wrk") }' "$work/rows.tsv"
