#!/usr/bin/env bash
# Build the container images of kneepoint's reference stack without any registry.
#
#   kneepoint/debian-base:bookworm       Debian bookworm rootfs (the shared layer)
#   kneepoint/postgres:15-bookworm       PostgreSQL 15 from Debian, official-image contract
#   kneepoint/redis:7-bookworm           Redis 7.0 from Debian, official-image contract
#   kneepoint/reference-service:local    target/release/reference-service on the base image
#
# The rootfs is made with mmdebstrap from the host's apt mirror (Debian packages are reachable
# where registries are not), slimmed, and imported once per image: the three imports share one
# layer. The service image is `docker create` + `docker cp` + `docker commit`: no builder, no
# FROM resolution, no pull. Images that exist are kept unless --force or what they are made of
# changed: the rootfs images carry the sha256 of their recipe and entrypoints as a label, the
# service image that of its binary. Runs as root (mmdebstrap).
#
# Usage: ci/build-images.sh [--force] [--service-bin PATH] [--skip-service] [--only-service]
# Environment: KNEEPOINT_POSTGRES_IMAGE, KNEEPOINT_REDIS_IMAGE, KNEEPOINT_SERVICE_IMAGE,
#              KNEEPOINT_BASE_IMAGE (image names), KNEEPOINT_APT_MIRROR (Debian mirror URL).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
images_dir="$repo_root/ci/images"

postgres_image=${KNEEPOINT_POSTGRES_IMAGE:-kneepoint/postgres:15-bookworm}
redis_image=${KNEEPOINT_REDIS_IMAGE:-kneepoint/redis:7-bookworm}
service_image=${KNEEPOINT_SERVICE_IMAGE:-kneepoint/reference-service:local}
base_image=${KNEEPOINT_BASE_IMAGE:-kneepoint/debian-base:bookworm}
suite=bookworm
pg_major=15

force=0
service_bin=
service_bin_given=0
build_db=1
build_service=1

usage() {
	sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--service-bin)
		[ $# -ge 2 ] || { echo "error: --service-bin needs a path" >&2; exit 2; }
		service_bin=$2
		service_bin_given=1
		shift
		;;
	--skip-service) build_service=0 ;;
	--only-service) build_db=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "error: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$service_bin" ] || service_bin="$repo_root/target/release/reference-service"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_label() {
	docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	echo "error: no Docker engine reachable (docker version failed); set DOCKER_HOST or start dockerd" >&2
	exit 3
fi

# The first non-security Debian URI for $suite in the host's apt sources (one-line or deb822).
detect_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		case "$f" in
		*.sources)
			awk -v suite="$suite" '
				/^[[:space:]]*$/ { if (uri != "" && suites ~ "(^| )" suite "( |$)") { print uri; exit } uri = ""; suites = ""; next }
				tolower($1) == "uris:" { uri = $2 }
				tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ /, "", suites) }
				END { if (uri != "" && suites ~ "(^| )" suite "( |$)") print uri }
			' "$f"
			;;
		*)
			awk -v suite="$suite" '
				$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
					if ($(i + 1) == suite) { print $i; exit } }
			' "$f"
			;;
		esac
	done | grep -v -e security -e '^$' | head -n 1
}

build_rootfs_images() {
	local mirror tmp tar t0 label
	mirror=${KNEEPOINT_APT_MIRROR:-$(detect_mirror)}
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	if ! command -v mmdebstrap >/dev/null 2>&1; then
		echo "mmdebstrap missing: installing it with apt-get"
		t0=$(now)
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
		echo "  installed mmdebstrap in $(since "$t0")"
	fi

	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: tmp is local.
	trap "rm -rf '$tmp'" EXIT
	tar="$tmp/rootfs.tar"

	echo "building the $suite rootfs from $mirror"
	t0=$(now)
	# Documentation and translations never land; man pages are deleted afterwards, because
	# excluding them breaks postgresql-client's update-alternatives in postinst. The LLVM JIT
	# (the biggest part, with libz3 which only LLVM uses), full perl (only postgresql-common's
	# wrappers use it; the entrypoint calls initdb/pg_ctl/postgres directly), the locale
	# sources (C.UTF-8 is built into glibc) and the cluster the postinst pre-creates go too.
	mmdebstrap --quiet --variant=essential \
		--include="postgresql-$pg_major,redis-server" \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--customize-hook="rm -rf \"\$1\"/usr/share/man/* \"\$1\"/var/cache/apt/* \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/log/* \"\$1\"/usr/share/i18n" \
		--customize-hook="rm -rf \"\$1\"/var/lib/postgresql/$pg_major \"\$1\"/etc/postgresql/$pg_major" \
		--customize-hook="rm -rf \"\$1\"/usr/lib/postgresql/$pg_major/lib/bitcode \"\$1\"/usr/lib/postgresql/$pg_major/lib/llvmjit*" \
		--customize-hook="rm -f \"\$1\"/usr/lib/*-linux-gnu/libLLVM-*.so* \"\$1\"/usr/lib/*-linux-gnu/libz3.so*" \
		--customize-hook="rm -rf \"\$1\"/usr/share/perl/5.* \"\$1\"/usr/lib/*-linux-gnu/perl/5.* \"\$1\"/usr/lib/*-linux-gnu/libperl.so*" \
		--customize-hook="mkdir -p \"\$1\"/docker-entrypoint-initdb.d \"\$1\"/data \"\$1\"/var/lib/postgresql/data" \
		--customize-hook="install -m 0755 '$images_dir/postgres-entrypoint.sh' \"\$1\"/usr/local/bin/postgres-entrypoint.sh" \
		--customize-hook="install -m 0755 '$images_dir/redis-entrypoint.sh' \"\$1\"/usr/local/bin/redis-entrypoint.sh" \
		"$suite" "$tar" "$mirror"
	echo "  rootfs: $(since "$t0"), $(du -m "$tar" | cut -f1) MB tar"
	label="LABEL $recipe_label=$(recipe_sum)"

	local path="PATH=/usr/lib/postgresql/$pg_major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	t0=$(now)
	docker import --message "kneepoint $suite base" \
		--change "$label" \
		--change "ENV LANG=C.UTF-8" \
		--change 'CMD ["/bin/bash"]' \
		"$tar" "$base_image" >/dev/null
	docker import --message "kneepoint PostgreSQL $pg_major ($suite)" \
		--change "$label" \
		--change "ENV $path" \
		--change "ENV LANG=C.UTF-8" \
		--change "ENV PGDATA=/var/lib/postgresql/data" \
		--change "EXPOSE 5432" \
		--change 'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		"$tar" "$postgres_image" >/dev/null
	docker import --message "kneepoint Redis 7 ($suite)" \
		--change "$label" \
		--change "ENV LANG=C.UTF-8" \
		--change "EXPOSE 6379" \
		--change "WORKDIR /data" \
		--change 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]' \
		--change 'CMD ["redis-server"]' \
		"$tar" "$redis_image" >/dev/null
	echo "  docker import x3: $(since "$t0")"
	rm -rf "$tmp"
	trap - EXIT
}

# What the rootfs images are made of: the recipe above (bash prints the function's text) and the
# entrypoints. An image whose label differs was made from something else and is rebuilt.
recipe_label=io.kneepoint.recipe-sha256
recipe_sum() {
	{
		echo "$suite postgresql-$pg_major"
		declare -f build_rootfs_images
		cat "$images_dir/postgres-entrypoint.sh" "$images_dir/redis-entrypoint.sh"
	} | sha256sum | cut -d' ' -f1
}

rootfs_images_current() {
	local sum image
	sum=$(recipe_sum)
	for image in "$base_image" "$postgres_image" "$redis_image"; do
		[ "$(image_label "$image" "$recipe_label")" = "$sum" ] || return 1
	done
}

build_service_image() {
	local sum current container t0
	sum=$(sha256sum "$service_bin" | cut -d' ' -f1)
	current=$(image_label "$service_image" io.kneepoint.binary-sha256)
	if [ "$force" = 0 ] && [ "$current" = "$sum" ]; then
		echo "$service_image: up to date with $service_bin ($(image_size "$service_image"))"
		return
	fi
	t0=$(now)
	container=$(docker create "$base_image" /bin/true)
	# EXIT, not RETURN: with `set -e` a failing `docker cp` exits without returning.
	# shellcheck disable=SC2064 # expand now: container is local.
	trap "docker rm -f '$container' >/dev/null 2>&1 || true" EXIT
	docker cp "$service_bin" "$container:/usr/local/bin/reference-service"
	docker commit \
		--change 'ENV BIND_ADDR=0.0.0.0:8080' \
		--change 'EXPOSE 8080' \
		--change 'USER 65534:65534' \
		--change 'WORKDIR /' \
		--change "LABEL io.kneepoint.binary-sha256=$sum" \
		--change 'ENTRYPOINT ["/usr/local/bin/reference-service"]' \
		--change 'CMD []' \
		"$container" "$service_image" >/dev/null
	docker rm -f "$container" >/dev/null
	trap - EXIT
	echo "$service_image: built from $service_bin in $(since "$t0") ($(image_size "$service_image"))"
}

total=$(now)
if [ "$build_db" = 1 ]; then
	if [ "$force" = 0 ] && rootfs_images_current; then
		echo "$postgres_image, $redis_image, $base_image: present and current (--force rebuilds)"
	else
		if [ "$force" = 0 ] && image_exists "$postgres_image"; then
			echo "$postgres_image and the others were made from another recipe or entrypoint: rebuilding"
		fi
		build_rootfs_images
	fi
	echo "$postgres_image: $(image_size "$postgres_image"); $redis_image: $(image_size "$redis_image")"
fi

if [ "$build_service" = 1 ]; then
	if ! image_exists "$base_image"; then
		echo "error: base image $base_image missing: run without --only-service first" >&2
		exit 1
	fi
	if [ -f "$service_bin" ]; then
		build_service_image
	elif [ "$service_bin_given" = 1 ]; then
		echo "error: service binary \`$service_bin\` not found" >&2
		exit 1
	else
		echo "skipping $service_image: $service_bin not built (cargo build --release -p reference-service)"
	fi
fi
echo "done in $(since "$total")"
