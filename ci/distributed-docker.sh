#!/usr/bin/env bash
# Distributed run on one machine with Docker: N kneepoint worker containers run one scenario as
# N shards against the reference stack, start together at a barrier, and their results are merged.
#
# Steps (each prints what it does):
#   1. build kneepoint/kneepoint:latest from the release binary (docker create + cp + commit on
#      the Debian base image from ci/build-images.sh; without it, on a minimal rootfs imported from
#      this host's own /bin/sh and the binary's shared libraries)
#   2. start the reference stack (PostgreSQL, Redis, reference-service) on a private network, the
#      service published on 127.0.0.1 only
#   3. put the scenario on a shared volume; start N workers, `--shard I/N --barrier`
#   4. merge the shards in a container; copy everything out
#   5. assert: merged requests = sum of the shards = the iteration cap = what the service counted
#      (/metrics), merged histogram = sum of the shards' histograms and merged P99 = P99 of all
#      samples (decoded independently, with the Python HdrHistogram), verdict and exit code from
#      the merged data, a missing shard refused with exit code 2
#   6. tear everything down (also on failure) and check nothing is left
#
# Usage: SHARDS=4 ITERATIONS=20000 bash ci/distributed-docker.sh [--image-only]
#   --image-only   build the image, check `kneepoint --version` runs in it, tear down
# Environment:
#   SHARDS (4)                 workers
#   USERS (8 per worker)       closed-model users in total
#   ITERATIONS (5000 × SHARDS) iteration cap in total (an exact total to compare with the service)
#   KNEEPOINT_BIN              binary to put in the image (default: build target/release/kneepoint)
#   KNEEPOINT_IMAGE            image to build (kneepoint/kneepoint:latest)
#   KNEEPOINT_BASE_IMAGE       base image (kneepoint/debian-base:bookworm)
#   KNEEPOINT_POSTGRES_IMAGE, KNEEPOINT_REDIS_IMAGE, KNEEPOINT_SERVICE_IMAGE  stack images
#   KEEP_RESULTS=DIR           copy the shard and merged results there
# Load goes only to the service container on the private network; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

SHARDS=${SHARDS:-4}
USERS=${USERS:-$((SHARDS * 8))}
ITERATIONS=${ITERATIONS:-$((SHARDS * 5000))}
image=${KNEEPOINT_IMAGE:-kneepoint/kneepoint:latest}
base_image=${KNEEPOINT_BASE_IMAGE:-kneepoint/debian-base:bookworm}
postgres_image=${KNEEPOINT_POSTGRES_IMAGE:-kneepoint/postgres:15-bookworm}
redis_image=${KNEEPOINT_REDIS_IMAGE:-kneepoint/redis:7-bookworm}
service_image=${KNEEPOINT_SERVICE_IMAGE:-kneepoint/reference-service:local}
route=/api/reference/categories

run_id="dist-$(date -u +%Y%m%dT%H%M%SZ)-$$"
label="io.kneepoint.distributed=$run_id"
net="kp-$run_id"
vol="kp-$run_id-results"
pg="kp-$run_id-postgres"
redis="kp-$run_id-redis"
svc="kp-$run_id-service"
work=$(mktemp -d)

step() { printf '\n== %s\n' "$*"; }
info() { printf '   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Remove only what this run created (all of it carries $label), whatever happened before.
cleanup() {
	local code=$?
	step "tear down ($run_id)"
	local ids
	ids=$(docker ps -aq --filter "label=$label" 2>/dev/null || true)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086 # one id per word
		docker rm -f $ids >/dev/null 2>&1 || true
		info "removed $(echo "$ids" | wc -w) containers"
	fi
	if docker network rm "$net" >/dev/null 2>&1; then info "removed network $net"; fi
	if docker volume rm "$vol" >/dev/null 2>&1; then info "removed volume $vol"; fi
	rm -rf "$work"
	exit "$code"
}
trap cleanup EXIT

image_only=0
case "${1:-}" in
--image-only) image_only=1 ;;
"") ;;
*) fail "unknown argument \`$1\` (only --image-only)" ;;
esac
[ "$SHARDS" -ge 1 ] || fail "SHARDS must be at least 1"
[ "$ITERATIONS" -ge "$SHARDS" ] || fail "ITERATIONS ($ITERATIONS) must be at least SHARDS ($SHARDS)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
	fail "no Docker engine reachable (docker version failed)"
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

step "1. kneepoint image $image"
bin=${KNEEPOINT_BIN:-}
if [ -z "$bin" ]; then
	info "cargo build --release --bin kneepoint"
	cargo build --release --quiet --bin kneepoint
	bin=target/release/kneepoint
fi
[ -x "$bin" ] || fail "$bin is not an executable"
if [ "$image_only" = 0 ]; then
	run_help=$("$bin" run --help)
	for flag in --shard --run-id --barrier; do
		grep -q -- "$flag" <<<"$run_help" || fail "$bin has no \`run $flag\`"
	done
fi
if ! image_exists "$base_image" && [ -x ci/build-images.sh ]; then
	info "$base_image missing: ci/build-images.sh --skip-service"
	bash ci/build-images.sh --skip-service
fi
if image_exists "$base_image"; then
	info "base: $base_image"
else
	# No Debian base: a rootfs of exactly what the binary and /bin/sh need, from this host.
	base_image="kneepoint/minimal-rootfs:$run_id"
	info "base: $base_image (host /bin/sh + shared libraries of $bin)"
	root="$work/rootfs"
	mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/usr/local/bin"
	chmod 1777 "$root/tmp"
	cp -L /bin/sh "$root/bin/sh"
	for lib in $( (ldd /bin/sh; ldd "$bin") | grep -o '/[^ ]*' | sort -u); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
	cp /etc/nsswitch.conf "$root/etc/" 2>/dev/null || true
	tar -C "$root" -cf "$work/rootfs.tar" .
	docker import --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" "$base_image" >/dev/null
fi
sum=$(sha256sum "$bin" | cut -d' ' -f1)
container=$(docker create --label "$label" "$base_image" /bin/sh)
docker cp "$bin" "$container:/usr/local/bin/kneepoint"
docker commit \
	--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
	--change 'WORKDIR /' \
	--change "LABEL io.kneepoint.binary-sha256=$sum" \
	--change 'ENTRYPOINT []' \
	--change 'CMD ["kneepoint", "--help"]' \
	"$container" "$image" >/dev/null
docker rm -f "$container" >/dev/null
case "$base_image" in kneepoint/minimal-rootfs:*) docker image rm "$base_image" >/dev/null 2>&1 || true ;; esac
info "built $image from $bin ($(docker run --rm --label "$label" "$image" kneepoint --version))"
if [ "$image_only" = 1 ]; then
	# The workers' shell arithmetic runs in the image too.
	got=$(docker run --rm --label "$label" -e JOB_COMPLETION_INDEX=2 "$image" \
		/bin/sh -c 'echo "$((JOB_COMPLETION_INDEX + 1))/4"')
	[ "$got" = 3/4 ] || fail "/bin/sh in $image computed \`$got\`, not 3/4"
	info "/bin/sh in the image: index 2 -> shard $got"
	exit 0
fi

step "2. reference stack on network $net"
for i in "$postgres_image" "$redis_image" "$service_image"; do
	image_exists "$i" && continue
	[ -x ci/build-images.sh ] || fail "$i missing and no ci/build-images.sh to build it"
	info "$i missing: cargo build --release -p reference-service; ci/build-images.sh"
	cargo build --release --quiet -p reference-service
	bash ci/build-images.sh
	break
done
docker network create --label "$label" "$net" >/dev/null
docker volume create --label "$label" "$vol" >/dev/null
# `-c fsync=off`: a throwaway database; it also gives the image's entrypoint the extra
# arguments it expects (with none, its pg_ctl gets an empty argument and PostgreSQL refuses it).
docker run -d --label "$label" --name "$pg" --network "$net" \
	-e POSTGRES_USER=kneepoint -e POSTGRES_PASSWORD=kneepoint -e POSTGRES_DB=reference \
	"$postgres_image" postgres -c fsync=off >/dev/null
docker run -d --label "$label" --name "$redis" --network "$net" "$redis_image" >/dev/null
docker run -d --label "$label" --name "$svc" --network "$net" -p 127.0.0.1::8080 \
	-e "DATABASE_URL=postgres://kneepoint:kneepoint@$pg:5432/reference" \
	-e "REDIS_URL=redis://$redis:6379" -e BIND_ADDR=0.0.0.0:8080 \
	-e RATE_LIMITS=off -e SEED_ITEMS=1000 \
	"$service_image" >/dev/null
port=$(docker port "$svc" 8080/tcp | grep -m1 '^127\.0\.0\.1:' | cut -d: -f2)
[ -n "$port" ] || fail "the service port is not published on 127.0.0.1"
service_url="http://127.0.0.1:$port"
info "service: $svc, $service_url from this host, http://$svc:8080 from the workers"
metrics() { python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$service_url/metrics"; }
ready=0
for _ in $(seq 240); do
	if python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)' "$service_url/ready" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.5
done
[ "$ready" = 1 ] || { docker logs --tail 30 "$svc" >&2; fail "the service was not ready within 120 s"; }
info "service ready"
# Requests the service counted on the route: sum of http_requests_total{route=...} samples.
counted() {
	metrics | awk -v r="route=\"$route\"" '$1 ~ /^http_requests_total\{/ && index($1, r) { n += $2 } END { printf "%d\n", n }'
}
before=$(counted)

step "3. $SHARDS workers: $USERS users, $ITERATIONS iterations of GET $route in total"
cat > "$work/scenario.toml" <<TOML
name = "distributed-docker"

[target]
base_url = "http://$svc:8080"
timeout = "5s"

[load]
users = $USERS
duration = "5m"
iterations = $ITERATIONS

[[transaction]]
name = "categories"

[[transaction.request]]
path = "$route"

[[sla]]
metric = "error_rate"
threshold = "1%"

[[sla]]
metric = "p99"
threshold = "5s"
TOML
# The scenario goes onto the volume through a stopped container: no host bind mount, so this
# also works with a remote or rootless engine.
helper=$(docker create --label "$label" -v "$vol:/results" "$image" true)
docker cp "$work/scenario.toml" "$helper:/results/scenario.toml"
info "scenario on volume $vol at /results/scenario.toml"
workers=()
for i in $(seq "$SHARDS"); do
	name="kp-$run_id-worker-$i"
	docker run -d --label "$label" --name "$name" --network "$net" -v "$vol:/results" "$image" \
		kneepoint run /results/scenario.toml --shard "$i/$SHARDS" --run-id "$run_id" \
		--barrier /results/barrier --out "/results/shard-$i" --quiet >/dev/null
	workers+=("$name")
	info "started $name (--shard $i/$SHARDS)"
done
deadline=$(($(date +%s) + 600))
for name in "${workers[@]}"; do
	left=$((deadline - $(date +%s)))
	[ "$left" -gt 0 ] || fail "workers still running after 600 s"
	code=$(timeout "$left" docker wait "$name") || fail "$name did not finish within 600 s"
	# 1 is an SLA breached on this shard's slice: only the merged data decides the verdict.
	if [ "$code" -gt 1 ]; then
		docker logs --tail 30 "$name" >&2
		fail "$name exited with $code"
	fi
	info "$name exited with $code"
done
after=$(counted)

step "4. merge in a container"
shard_dirs=$(for i in $(seq "$SHARDS"); do printf '/results/shard-%s ' "$i"; done)
set +e
# shellcheck disable=SC2086 # one folder per word
docker run --label "$label" --name "kp-$run_id-merge" -v "$vol:/results" "$image" \
	kneepoint merge $shard_dirs --out /results/merged
merge_code=$?
set -e
info "kneepoint merge exited with $merge_code"
docker cp "$helper:/results/." "$work/results"
if [ -n "${KEEP_RESULTS:-}" ]; then
	mkdir -p "$KEEP_RESULTS"
	cp -r "$work/results/." "$KEEP_RESULTS/"
	info "results kept in $KEEP_RESULTS"
fi
missing_code=0
if [ "$SHARDS" -ge 2 ]; then
	# Every shard but the last: must be refused, naming the missing one.
	partial=$(for i in $(seq $((SHARDS - 1))); do printf '/results/shard-%s ' "$i"; done)
	set +e
	# shellcheck disable=SC2086 # one folder per word
	docker run --rm --label "$label" -v "$vol:/results" "$image" \
		kneepoint merge $partial --out /results/partial > "$work/partial.out" 2>&1
	missing_code=$?
	set -e
	info "merge without shard $SHARDS exited with $missing_code: $(grep -m1 -i missing "$work/partial.out" || true)"
fi

step "5. checks"
python3 -m pip --version >/dev/null 2>&1 || fail "python3 with pip is needed for the histogram check"
python3 -c 'import hdrh' 2>/dev/null || python3 -m pip install --quiet hdrhistogram
python3 - "$work/results" "$SHARDS" "$ITERATIONS" "$((after - before))" "$merge_code" "$missing_code" "$run_id" <<'PY'
import json, sys
from hdrh.histogram import HdrHistogram

root, n, iterations, counted, merge_code, missing_code, run_id = sys.argv[1:]
n, iterations, counted = int(n), int(iterations), int(counted)
merge_code, missing_code = int(merge_code), int(missing_code)
failures = []

def check(ok, what):
    print(("   ok   " if ok else "   FAIL ") + what)
    if not ok:
        failures.append(what)

def load(path):
    with open(path) as f:
        return json.load(f)

shards = [load(f"{root}/shard-{i}/results.json") for i in range(1, n + 1)]
merged = load(f"{root}/merged/results.json")
overall = lambda r: next(s for s in r["scopes"] if s["kind"] == "overall")

for i, s in enumerate(shards, 1):
    check(s.get("shard") == {"index": i, "count": n}, f"shard {i} results say shard {i}/{n}: {s.get('shard')}")
    check(s["run_id"] == run_id, f"shard {i} carries run id {run_id}")
per_shard = [overall(s)["stats"]["requests"] for s in shards]
total = overall(merged)["stats"]["requests"]
print(f"   shard requests: {per_shard}")
check(total == sum(per_shard), f"merged requests {total} = sum of shards {sum(per_shard)}")
check(total == iterations, f"merged requests {total} = iteration cap {iterations}")
check(total == counted, f"merged requests {total} = requests the service counted {counted}")
check(merged["shards"] == n and len(merged.get("merged_from", [])) == n, f"merged result says {n} shards contributed")

# Histograms, decoded here independently of kneepoint: the merged one is the sum of the shards'.
combined = None
for s in shards:
    h = HdrHistogram.decode(overall(s)["histogram"])
    if combined is None:
        combined = h
    else:
        combined.add(h)
m = HdrHistogram.decode(overall(merged)["histogram"])
check(m.get_total_count() == combined.get_total_count() == total, "histogram counts equal the request count")
same = all(m.get_count_at_value(v) == combined.get_count_at_value(v)
           for v in (it.value_iterated_to for it in combined.get_recorded_iterator()))
check(same, "merged histogram = sum of the shards' histograms, bucket by bucket")
p99, want = overall(merged)["stats"]["latency_us"]["p99"], combined.get_value_at_percentile(99)
# 3 significant digits: values within one bucket are equivalent.
check(combined.values_are_equivalent(p99, want), f"merged p99 {p99} µs = p99 of all samples {want} µs")

passed = all(v["passed"] for v in merged["slas"])
expected = 0 if passed else 1
check(merge_code == expected, f"merge exit code {merge_code} = verdict of the merged data ({'pass' if passed else 'breached'})")
if n >= 2:
    check(missing_code == 2, f"a missing shard is refused with exit code 2 (got {missing_code})")

rate = total / merged["duration_s"] if merged["duration_s"] > 0 else 0.0
print(f"\n   {n} local workers: {total} requests in {merged['duration_s']:.1f} s = {rate:.0f} requests/s in aggregate")
for i, s in enumerate(shards, 1):
    d = s["duration_s"]
    print(f"   shard {i}: {per_shard[i-1] / d if d else 0:.0f} requests/s, started {s['started_at']}")
if failures:
    sys.exit(f"{len(failures)} check(s) failed")
PY

step "6. tear down"
trap - EXIT
cleanup_code=0
( cleanup ) || cleanup_code=$?
left=$(docker ps -aq --filter "label=$label" | wc -l)
[ "$left" = 0 ] || fail "$left containers left behind"
! docker network inspect "$net" >/dev/null 2>&1 || fail "network $net left behind"
! docker volume inspect "$vol" >/dev/null 2>&1 || fail "volume $vol left behind"
echo "distributed Docker run: all checks passed, nothing left behind"
exit "$cleanup_code"
