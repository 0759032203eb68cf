#!/usr/bin/env bash
# Proof that the suite is date-free: runs pytest once per instant with the wall clock of EVERY Python process of the
# venv (pytest, its xdist workers, the servers and CLIs the tests start) moved to that instant and ticking.
#
#   scripts/date-free.sh [INSTANT ...] [-- PYTEST_ARGS ...]
#
# Instants are ISO 8601 with an offset; the defaults are the calendar edges the suite must survive: the 1st of a
# month just after midnight UTC, 29 February, and 31 December 18:00 UTC (already New Year's Day in China, UTC+8).
# PYTEST_ARGS default to `-n $PYTEST_WORKERS -q` (PYTEST_WORKERS=2). Logs: var/date-free/<instant>.log.
# The clock moves through scripts/timetravel_hook.py, started by the .pth file scripts/setup.sh installs.
# Exit status: 0 when every run passed, 1 when one failed, 2 when the harness could not move the clock.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

instants=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  instants+=("$1")
  shift
done
[ $# -gt 0 ] && shift  # the "--"
if [ $# -gt 0 ]; then pytest_args=("$@"); else pytest_args=(-n "${PYTEST_WORKERS:-2}" -q); fi
[ ${#instants[@]} -gt 0 ] || instants=(2027-03-01T00:30:00Z 2028-02-29T12:00:00Z 2027-12-31T18:00:00Z)

logs=var/date-free
mkdir -p "$logs"
unset TRUSTLEDGER_TEST_TRAVEL_ORIGIN  # each run's pytest process starts its own journey
# pytest cannot assert-rewrite its time_machine plugin, which the hook imported at start-up: say nothing about it.
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} -W 'ignore:Module already imported so cannot be rewritten; time_machine:pytest.PytestAssertRewriteWarning'"

# The clock of a subprocess must really be at the instant, or a green run proves nothing.
check_travel() {
  TRUSTLEDGER_TEST_TRAVEL_TO="$1" "$PY" - "$1" <<'PY'
import sys
from datetime import UTC, datetime

target = datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
now = datetime.now(UTC)
if abs((now - target).total_seconds()) > 60:
    sys.exit(f"date-free: a subprocess reads {now.isoformat()}, not {sys.argv[1]}: run scripts/setup.sh")
PY
}

status=0
summary=()
for instant in "${instants[@]}"; do
  check_travel "$instant" || exit 2
  log="$logs/${instant//:/}.log"
  echo "== $instant: pytest ${pytest_args[*]} (log: $log)"
  start=$(date +%s)  # the shell's clock is not moved: wall time is real
  TRUSTLEDGER_TEST_TRAVEL_TO="$instant" .venv/bin/pytest "${pytest_args[@]}" >"$log" 2>&1
  rc=$?
  wall=$(($(date +%s) - start))
  grep -E '^(FAILED|ERROR) ' "$log"
  last=$(grep -E '(passed|failed|error|no tests ran)' "$log" | tail -n 1)
  count() { grep -oE "[0-9]+ $1" <<<"$last" | grep -oE '^[0-9]+' || echo 0; }
  line=$(printf '%-22s passed=%-5s failed=%-3s errors=%-3s skipped=%-3s wall=%ss' \
    "$instant" "$(count passed)" "$(count failed)" "$(count 'errors?')" "$(count skipped)" "$wall")
  if [ $rc -ne 0 ]; then
    status=1
    line="$line  FAIL (pytest exit $rc)"
  fi
  echo "$line"
  summary+=("$line")
done
echo "== date-free summary"
printf '%s\n' "${summary[@]}"
exit $status
