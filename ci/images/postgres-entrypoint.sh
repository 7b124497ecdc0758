#!/bin/bash
# Entrypoint of kneepoint's PostgreSQL image built from Debian packages (ci/build-images.sh).
#
# It honours the contract of the official `postgres` image's docker-entrypoint.sh, which the
# testcontainers Postgres module and the reference stack rely on:
#   - POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#     POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default $POSTGRES_USER),
#     POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
#   - initdb runs as the `postgres` user into $PGDATA, `listen_addresses='*'` and a
#     `host all all all <method>` line are added;
#   - a temporary server (unix socket only) runs /docker-entrypoint-initdb.d/* (*.sh, *.sql,
#     *.sql.gz); its log goes to stdout through pg_ctl, so "database system is ready to accept
#     connections" appears once on stdout (temporary server) and once on stderr (final server);
#   - arguments starting with `-` are passed to `postgres` (e.g. `-c fsync=off`).
# One addition: with `-c fsync=off` initdb runs with --no-sync (about half of start-up here).
# Not supported: the *_FILE variants of the variables and POSTGRES_INITDB_WALDIR.
set -Eeo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
	# /run is not a tmpfs in a container: the socket directory may be missing.
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

psql_init() {
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	export POSTGRES_USER POSTGRES_DB
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		cat >&2 <<-'MSG'
		error: database is uninitialized and superuser password is not specified.
		       Set POSTGRES_PASSWORD to a non-empty value, or POSTGRES_HOST_AUTH_METHOD=trust
		       to allow all connections without a password (not recommended).
		MSG
		exit 1
	fi

	# A server told not to fsync (`-c fsync=off`, as the testcontainers module does) gains
	# nothing from syncing its fresh cluster, and the sync is most of initdb's time.
	case " $* " in
	*' fsync=off '*) POSTGRES_INITDB_ARGS="--no-sync $POSTGRES_INITDB_ARGS" ;;
	esac

	if [ -n "$POSTGRES_PASSWORD" ]; then
		# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list by contract.
		initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
			-D "$PGDATA" $POSTGRES_INITDB_ARGS
	else
		# shellcheck disable=SC2086
		initdb --username="$POSTGRES_USER" -D "$PGDATA" $POSTGRES_INITDB_ARGS
	fi
	printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
	# Later settings win; the JIT provider is removed from the image to keep it small.
	printf "\nlisten_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"

	# The server's own arguments plus local-only settings, quoted for the shell pg_ctl runs.
	# Built as one list: with no arguments of its own, `printf '%q '` alone would print `''`,
	# an empty argument that postgres refuses.
	temp_server_args=("${@:2}" -c listen_addresses= -p 5432)
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" \
		-o "$(printf '%q ' "${temp_server_args[@]}")" -w start

	if [ "$POSTGRES_DB" != 'postgres' ]; then
		psql_init --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db" ;
		SQL
	fi

	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				printf '%s: running %s\n' "$0" "$f"
				"$f"
			else
				printf '%s: sourcing %s\n' "$0" "$f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			printf '%s: running %s\n' "$0" "$f"
			psql_init --dbname "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			printf '%s: running %s\n' "$0" "$f"
			gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB"
			;;
		*) [ -e "$f" ] && printf '%s: ignoring %s\n' "$0" "$f" ;;
		esac
	done

	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
