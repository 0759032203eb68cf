#!/usr/bin/env bash
# Creates .venv and installs the project with its development tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch .venv/.installed
fi
# The date-free harness (scripts/date-free.sh): a .pth that moves the wall clock of every interpreter of this venv
# to TRUSTLEDGER_TEST_TRAVEL_TO at start-up. Unset, it costs one environment lookup; a missing hook file is skipped.
.venv/bin/python - "$PWD/scripts/timetravel_hook.py" <<'PY'
import pathlib, sys, sysconfig
hook = sys.argv[1]
line = (
    "import os; os.environ.get('TRUSTLEDGER_TEST_TRAVEL_TO') and os.path.isfile(%r)"
    " and __import__('runpy').run_path(%r)['travel_from_environment']()\n" % (hook, hook)
)
pth = pathlib.Path(sysconfig.get_path("purelib")) / "trustledger_timetravel.pth"
if not pth.exists() or pth.read_text() != line:
    pth.write_text(line)
PY
