#!/usr/bin/env bash
# A PostgreSQL streaming replica of the local primary, for the read replica tests and benchmarks (ADR 0015).
# Idempotent and safe to run from several processes at once (one flock): allows replication connections from the
# loopback on the primary, creates the Debian cluster `$VERSION $REPLICA` on $REPLICA_PORT from `pg_basebackup -R`
# if it is missing, starts it, and waits until it answers as a hot standby. Prints the replica's port.
#   scripts/pg-replica.sh            prepare (or just check) the replica
#   scripts/pg-replica.sh --rebuild  drop it and take a fresh base backup (e.g. after the primary lost its WAL)
set -euo pipefail

VERSION=${TRUSTLEDGER_PG_VERSION:-$(ls /etc/postgresql | sort -n | tail -1)}
PRIMARY=${TRUSTLEDGER_PG_PRIMARY_CLUSTER:-main}
PRIMARY_PORT=${TRUSTLEDGER_PG_PRIMARY_PORT:-5432}
REPLICA=${TRUSTLEDGER_PG_REPLICA_CLUSTER:-replica}
REPLICA_PORT=${TRUSTLEDGER_PG_REPLICA_PORT:-5433}
LOCK=${TRUSTLEDGER_PG_REPLICA_LOCK:-/tmp/trustledger-pg-replica.lock}
REBUILD=0
[ "${1:-}" = "--rebuild" ] && REBUILD=1

exec 9>>"$LOCK"
flock -w 300 9

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cluster() {  # cluster ACTION NAME: pg_ctlcluster with no descriptor but stdio: a postmaster keeps what it inherits,
  # and would hold this script's lock (or a caller's) for as long as it runs.
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$2" "$1"
  )
}
sql() {  # sql PORT QUERY: one value, or nothing when the server does not answer
  psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -XAtqc "$2" 2>/dev/null || true
}

# (1): the primary is up and lets the loopback connect for replication.
if ! pg_isready -h 127.0.0.1 -p "$PRIMARY_PORT" -q; then
  cluster start "$PRIMARY"
fi
HBA=$(sql "$PRIMARY_PORT" "SHOW hba_file")
[ -n "$HBA" ] || { echo "pg-replica: the primary on port $PRIMARY_PORT does not answer" >&2; exit 1; }
if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA"; then
  # pg_hba.conf is read top down: put the line first so no earlier rule rejects replication from the loopback.
  { echo "host replication all 127.0.0.1/32 trust  # trustledger read replica (scripts/pg-replica.sh)"; cat "$HBA"; } >"$HBA.new"
  chown --reference="$HBA" "$HBA.new" 2>/dev/null || true
  chmod --reference="$HBA" "$HBA.new"
  mv "$HBA.new" "$HBA"
  sql "$PRIMARY_PORT" "SELECT pg_reload_conf()" >/dev/null
fi

# (2): the replica cluster exists (a fresh base backup with standby.signal and primary_conninfo), or is rebuilt.
exists() { pg_lsclusters -h | awk -v v="$VERSION" -v c="$REPLICA" '$1 == v && $2 == c { found = 1 } END { exit !found }'; }
if [ "$REBUILD" = 1 ] && exists; then
  pg_dropcluster --stop "$VERSION" "$REPLICA" 9>&-
fi
if ! exists; then
  pg_createcluster "$VERSION" "$REPLICA" -p "$REPLICA_PORT" >/dev/null
  DATA=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$REPLICA" '$1 == v && $2 == c { print $6 }')
  as_postgres find "$DATA" -mindepth 1 -delete
  as_postgres pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DATA" -R -X stream --checkpoint=fast
fi
# The replica lets in whom the primary lets in (pg_createcluster's default asks loopback clients for a password).
REPLICA_HBA=/etc/postgresql/$VERSION/$REPLICA/pg_hba.conf
if ! cmp -s "$HBA" "$REPLICA_HBA"; then
  cp "$HBA" "$REPLICA_HBA"
  chown --reference="$HBA" "$REPLICA_HBA" 2>/dev/null || true
  pg_isready -h 127.0.0.1 -p "$REPLICA_PORT" -q && cluster reload "$REPLICA"
fi

# (3): it runs, in recovery (a standby, not a promoted copy), and answers queries.
if ! pg_isready -h 127.0.0.1 -p "$REPLICA_PORT" -q; then
  cluster start "$REPLICA"
fi
for _ in $(seq 1 120); do
  state=$(sql "$REPLICA_PORT" "SELECT pg_is_in_recovery()")
  [ "$state" = t ] && break
  if [ "$state" = f ]; then
    echo "pg-replica: the cluster on port $REPLICA_PORT is not a standby; run $0 --rebuild" >&2
    exit 1
  fi
  sleep 0.5
done
[ "$(sql "$REPLICA_PORT" "SELECT pg_is_in_recovery()")" = t ] || {
  echo "pg-replica: the replica on port $REPLICA_PORT did not come up" >&2
  exit 1
}

# (4): it streams from the primary. A replica left stopped for long may need WAL the primary has since recycled; it
# then never streams again and is rebuilt, once.
streaming() { [ "$(sql "$REPLICA_PORT" "SELECT status FROM pg_stat_wal_receiver")" = streaming ]; }
for _ in $(seq 1 60); do
  streaming && break
  sleep 0.5
done
if ! streaming; then
  if [ "$REBUILD" = 1 ]; then
    echo "pg-replica: the replica on port $REPLICA_PORT does not stream from the primary" >&2
    exit 1
  fi
  echo "pg-replica: the replica does not stream from the primary; rebuilding it" >&2
  exec 9>&-
  exec "$0" --rebuild
fi
echo "$REPLICA_PORT"
