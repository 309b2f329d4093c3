#!/usr/bin/env bash
# Databases: the after-commit adapters (tests/transactions) on SQLite and on a real PostgreSQL
# server, through SQLAlchemy and through Django's own backends (psycopg 3), both twins.
# - installs Debian's `postgresql` package when no server is there (root, as CI);
# - makes a throwaway cluster in a temporary folder, owned by the `postgres` user when run as
#   root (the server refuses to run as root), listening on a unix socket in that folder only;
# - runs the tests with EVENTBUS_TEST_POSTGRES_URL naming it and EVENTBUS_POSTGRES_REQUIRED=1,
#   so that a test that would skip for want of the server or a framework fails instead;
# - stops the server and removes the folder on the way out, whatever happened.
# Run by `nox -s databases`: CI_VENV is its venv (the package and the `databases` dependency
# group), CI_WORK a scratch folder, cwd = repo root.  Arguments go to pytest.
set -euo pipefail
: "${CI_VENV:?}" "${CI_WORK:?}"
python="$CI_VENV/bin/python"

newest_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(newest_bin)" ]; then
  echo "databases: installing Debian's postgresql package"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
bin=$(newest_bin)
echo "databases: $("$bin/postgres" --version)"

# A short path: the socket's path must fit in 107 bytes.
cluster=$(mktemp -d /tmp/eventbus-pg.XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$cluster"
  as_owner=(runuser -u postgres --)
fi
stop() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$cluster"
}
trap stop EXIT

"${as_owner[@]}" "$bin/initdb" -D "$cluster/data" -U eventbus --auth=trust -E UTF8 >/dev/null
# No TCP at all (listen_addresses empty): the socket in the cluster's folder is the only way in.
"${as_owner[@]}" "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w \
  -o "-c listen_addresses='' -k $cluster -c fsync=off -c synchronous_commit=off" start >/dev/null
"${as_owner[@]}" "$bin/createdb" -h "$cluster" -U eventbus eventbus

export EVENTBUS_TEST_POSTGRES_URL="postgresql://eventbus@/eventbus?host=$cluster"
export EVENTBUS_POSTGRES_REQUIRED=1
"$python" -c 'import eventbus; print("databases: eventbus implementation:", eventbus.implementation)'
status=0
"$python" -m pytest tests/transactions -q -p no:cacheprovider "$@" || status=$?
if [ "$status" != 0 ]; then
  echo "databases: the server's log:" >&2
  tail -n 30 "$cluster/server.log" >&2 || true
fi
exit "$status"
