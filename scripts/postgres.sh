#!/usr/bin/env bash
# Makes sure a local PostgreSQL server runs for the test suite (installing Debian's package
# if needed) and prints a SQLAlchemy URL of a role that may create databases.
# Everything it changes is logged to stderr; stdout carries only the URL.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "installing PostgreSQL from Debian's packages" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
cluster() { pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"'; }
if [ -z "$(cluster)" ]; then
  echo "creating PostgreSQL cluster $version/main" >&2
  $SUDO pg_createcluster "$version" main >&2
fi
port=$(cluster | awk '{print $3}')
if [ "$(cluster | awk '{print $4}')" != "online" ]; then
  echo "starting PostgreSQL $version on port $port" >&2
  $SUDO pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done

as_postgres() { $SUDO su postgres -s /bin/sh -c "psql -p $port -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(as_postgres "SELECT 1 FROM pg_roles WHERE rolname = 'kairos_test'")" != "1" ]; then
  as_postgres "CREATE ROLE kairos_test LOGIN CREATEDB PASSWORD 'kairos_test'" >&2
fi
# Dropping a test database WITH (FORCE) must also stop backends that are not the role's own
# (an autovacuum worker, a connection still authenticating): that takes pg_signal_backend.
as_postgres "GRANT pg_signal_backend TO kairos_test" >&2
if [ "$(as_postgres "SELECT 1 FROM pg_database WHERE datname = 'kairos_test'")" != "1" ]; then
  as_postgres "CREATE DATABASE kairos_test OWNER kairos_test" >&2
fi
echo "postgresql+psycopg://kairos_test:kairos_test@127.0.0.1:${port}/kairos_test"
