#!/bin/sh
# Entrypoint of kneepoint's Redis image built from Debian packages (ci/build-images.sh).
#
# Like the official `redis` image: arguments starting with `-` (or a `*.conf` file) go to
# redis-server, the server runs as the `redis` user in /data with protected mode off (the
# container network is the boundary), and it logs "Ready to accept connections" on stdout,
# which the testcontainers Redis module waits for.
set -e

case "$1" in
-* | *.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	mkdir -p /data
	chown redis:redis /data
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	case " $* " in
	*' --protected-mode '*) ;;
	*) set -- "$@" --protected-mode no ;;
	esac
fi

exec "$@"
