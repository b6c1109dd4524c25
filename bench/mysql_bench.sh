#!/usr/bin/env bash
# sysbench against a P2PDB node and a MariaDB server started side by side on 127.0.0.1.
#
# Run: bash bench/mysql_bench.sh          (options from the environment, defaults shown)
#   THREADS=8      sysbench client threads
#   RW_THREADS=4   client threads of oltp_read_write
#   TIME=10        seconds per run
#   TABLE_SIZE=10000  rows in sbtest1
#   PYTHON=python3 the interpreter with p2pdb installed
#   PROCESSES=1    processes serving P2PDB's MySQL port (--mysql-processes)
#   MARIADBD=      path of mariadbd (found on PATH or in /usr/sbin); empty: P2PDB alone
#
# Both servers get a fresh temporary data directory and a free port; everything is removed on exit.
# For each server: oltp_point_select (prepare with client-generated ids 1..TABLE_SIZE, so both
# servers hold the same rows and every lookup hits, whatever ids each server's AUTO_INCREMENT would
# give) and oltp_insert (AUTO_INCREMENT ids). Durability is like for like:
# P2PDB's default keeps every acknowledged commit across a killed process without an fsync per
# commit; MariaDB runs with innodb_flush_log_at_trx_commit=2, the same guarantee.
# Then oltp_read_write (RW_THREADS threads; transactions per second: each has 10 point selects, 4
# range selects, 2 updates, a delete and an insert, in BEGIN/COMMIT).
# Targets (whitepaper, then issue 14): point select >= 10,000 q/s, insert >= 5,000/s; point select
# >= 0.7x MariaDB, insert >= 8,000/s and >= 0.3x MariaDB, read/write >= 0.25x MariaDB.
# Needs sysbench and the mariadb client (scripts/test installs them); without mariadbd the script
# says so and benchmarks P2PDB alone. It installs nothing.
set -euo pipefail

THREADS=${THREADS:-8}
RW_THREADS=${RW_THREADS:-4}
TIME=${TIME:-10}
TABLE_SIZE=${TABLE_SIZE:-10000}
PYTHON=${PYTHON:-python3}
PROCESSES=${PROCESSES:-1}
START_TIMEOUT=60

cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 not found ($2)" >&2; exit 1; }; }
need sysbench "apt-get install sysbench, or run scripts/test once"
CLIENT=$(command -v mariadb || command -v mysql || true)
[ -n "$CLIENT" ] || { echo "error: no mariadb/mysql client (apt-get install mariadb-client)" >&2; exit 1; }
if [ -z "${MARIADBD+set}" ]; then  # MARIADBD= (empty) skips the comparison
  MARIADBD=$(command -v mariadbd || { [ -x /usr/sbin/mariadbd ] && echo /usr/sbin/mariadbd; } || true)
fi
INSTALL_DB=$(command -v mariadb-install-db || true)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/p2pdb-bench.XXXXXX")
NODE_PID=""
MARIADB_PID=""

stop_pid() {  # stop_pid PID NAME: SIGTERM, wait up to 30 s, then SIGKILL
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "warning: $name did not stop within 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  [ -n "$NODE_PID" ] && stop_pid "$NODE_PID" "p2pdb"
  [ -n "$MARIADB_PID" ] && stop_pid "$MARIADB_PID" "mariadbd"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {  # wait_for_port PORT PID NAME LOG
  local port=$1 pid=$2 name=$3 log=$4 i
  for i in $(seq 1 $((START_TIMEOUT * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $name exited during start-up:" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    if "$CLIENT" -h 127.0.0.1 -P "$port" -u root --connect-timeout=2 -e "SELECT 1" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "error: $name did not accept connections within $START_TIMEOUT s" >&2
  tail -20 "$log" >&2
  exit 1
}

start_p2pdb() {
  "$PYTHON" -m p2pdb start --data-dir "$TMP/p2pdb" --mysql-port 0 --p2p-port 0 --log-level WARNING \
    --mysql-processes "$PROCESSES" \
    >"$TMP/p2pdb.out" 2>"$TMP/p2pdb.err" &
  NODE_PID=$!
  local i port=""
  for i in $(seq 1 $((START_TIMEOUT * 10))); do
    port=$(sed -n 's/^mysql  *127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$TMP/p2pdb.out")
    [ -n "$port" ] && break
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      echo "error: p2pdb start exited:" >&2
      cat "$TMP/p2pdb.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  [ -n "$port" ] || { echo "error: p2pdb printed no MySQL address within $START_TIMEOUT s" >&2; exit 1; }
  wait_for_port "$port" "$NODE_PID" p2pdb "$TMP/p2pdb.err"
  P2PDB_PORT=$port
}

start_mariadb() {
  local port user=()
  port=$(free_port)
  [ "$(id -u)" = 0 ] && user=(--user=root)  # mariadbd refuses to run as root unless told to
  "$INSTALL_DB" --no-defaults --datadir="$TMP/mariadb" --auth-root-authentication-method=normal \
    --skip-test-db "${user[@]}" >"$TMP/mariadb-install.log" 2>&1 \
    || { echo "error: mariadb-install-db failed:" >&2; tail -20 "$TMP/mariadb-install.log" >&2; exit 1; }
  "$MARIADBD" --no-defaults --datadir="$TMP/mariadb" --socket="$TMP/mariadb.sock" \
    --pid-file="$TMP/mariadb.pid" --log-error="$TMP/mariadb.err" --port="$port" \
    --bind-address=127.0.0.1 --skip-grant-tables --skip-name-resolve "${user[@]}" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --max-connections=200 \
    >/dev/null 2>&1 &
  MARIADB_PID=$!
  wait_for_port "$port" "$MARIADB_PID" mariadbd "$TMP/mariadb.err"
  MARIADB_PORT=$port
}

# sysbench_qps PORT TEST EXTRA...: prepare, run, cleanup; prints the run's queries per second
sysbench_qps() {
  local port=$1 test=$2 out
  shift 2
  local common=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=root
    --mysql-password= --mysql-db=sbtest --tables=1 --table-size="$TABLE_SIZE" "$@")
  "$CLIENT" -h 127.0.0.1 -P "$port" -u root -e "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest"
  sysbench "$test" "${common[@]}" prepare >"$TMP/prepare.log" 2>&1 \
    || { echo "error: sysbench $test prepare failed:" >&2; tail -20 "$TMP/prepare.log" >&2; exit 1; }
  sysbench "$test" "${common[@]}" --threads="${RUN_THREADS:-$THREADS}" --time="$TIME" --report-interval=0 run \
    >"$TMP/run.log" 2>&1 \
    || { echo "error: sysbench $test run failed:" >&2; tail -20 "$TMP/run.log" >&2; exit 1; }
  sysbench "$test" "${common[@]}" cleanup >/dev/null 2>&1 || true
  sed -n "s/^ *${COUNT:-queries}: *[0-9]* *(\([0-9.]*\) per sec\.)/\1/p" "$TMP/run.log"
}

# sysbench_tps PORT: oltp_read_write with RW_THREADS threads; prints transactions per second
sysbench_tps() {
  COUNT=transactions RUN_THREADS=$RW_THREADS sysbench_qps "$1" oltp_read_write --auto-inc=off
}

verdict() {  # verdict VALUE TARGET
  awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "PASS" : "BELOW" }'
}

echo "sysbench: threads=$THREADS time=${TIME}s table-size=$TABLE_SIZE ($(nproc) CPUs), P2PDB processes=$PROCESSES"
start_p2pdb
p2p_select=$(sysbench_qps "$P2PDB_PORT" oltp_point_select --auto-inc=off)
p2p_insert=$(sysbench_qps "$P2PDB_PORT" oltp_insert)
p2p_rw=$(sysbench_tps "$P2PDB_PORT")
stop_pid "$NODE_PID" p2pdb
NODE_PID=""

maria_select="" maria_insert="" maria_rw=""
if [ -n "$MARIADBD" ] && [ -n "$INSTALL_DB" ]; then
  start_mariadb
  maria_select=$(sysbench_qps "$MARIADB_PORT" oltp_point_select --auto-inc=off)
  maria_insert=$(sysbench_qps "$MARIADB_PORT" oltp_insert)
  maria_rw=$(sysbench_tps "$MARIADB_PORT")
  stop_pid "$MARIADB_PID" mariadbd
  MARIADB_PID=""
else
  echo "mariadbd (or mariadb-install-db) not found: benchmarking P2PDB alone (apt-get install mariadb-server to compare)"
fi

echo
printf '%-20s %12s %12s %8s\n' "test" "P2PDB q/s" "MariaDB q/s" "ratio"
row() {  # row NAME P2PDB MARIADB
  if [ -n "$3" ]; then
    printf '%-20s %12.0f %12.0f %7.2fx\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { print a / b }')"
  else
    printf '%-20s %12.0f %12s %8s\n' "$1" "$2" "-" "-"
  fi
}
row oltp_point_select "$p2p_select" "$maria_select"
row oltp_insert "$p2p_insert" "$maria_insert"
row "oltp_read_write tps" "$p2p_rw" "$maria_rw"
echo
printf '%-44s %s\n' "point select >= 10,000 q/s ($(printf '%.0f' "$p2p_select"))" "$(verdict "$p2p_select" 10000)"
printf '%-44s %s\n' "insert >= 5,000/s ($(printf '%.0f' "$p2p_insert"))" "$(verdict "$p2p_insert" 5000)"
printf '%-44s %s\n' "insert >= 8,000/s ($(printf '%.0f' "$p2p_insert"))" "$(verdict "$p2p_insert" 8000)"
ratio_row() {  # ratio_row LABEL P2PDB MARIADB TARGET
  [ -n "$3" ] || return 0
  local ratio
  ratio=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')
  printf '%-44s %s\n' "$1 >= ${4}x MariaDB (${ratio}x)" "$(verdict "$ratio" "$4")"
}
ratio_row "point select" "$p2p_select" "$maria_select" 0.7
ratio_row "insert" "$p2p_insert" "$maria_insert" 0.3
ratio_row "read/write tps (${RW_THREADS} threads)" "$p2p_rw" "$maria_rw" 0.25
