"""Benchmark of the command's start-up: `trustledger --help` and `trustledger verify --offline` against a bare
interpreter (`python -c "import json"`, the same venv interpreter) in the same run.

Each command is a fresh process (that is what an operator or a cron job pays); the commands run round-robin, so a
noisy neighbour slows all of them alike. The offline verify rows check a real token of a fresh region against its
exported trust list: once with `--root-key` and `--at` (files only: nothing of the region is read), once as an
operator would type it on the region's machine (the root key from the home's keystore, the time from the region's
clock, which reads the settings). Rows: wall time per command (ours) vs the bare interpreter (baseline); ratio = ours ÷
baseline, goal ≤ 5. Run: `python -m bench cli [--quick]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))
GOAL = 5.0
BUSINESS_LICENCE = [
    "licence", "issue", "--type", "business-licence", "--holder", "91350100M000100Y43",
    "--holder-name", "郑州鼎盛商贸有限公司", "--issuer", "ha-amr", "--field", "legal_representative=张伟",
]  # fmt: skip


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([TRUSTLEDGER, *args], env=env, capture_output=True, text=True, check=True).stdout


def _region(home: Path) -> tuple[dict[str, str], str, Path, str, str]:
    """A fresh region in `home`: (environment, a licence token, the exported trust list file, root key, now)."""
    env = os.environ | {"TRUSTLEDGER_HOME": str(home), "TRUSTLEDGER_DATABASE_URL": f"sqlite:///{home / 'tl.db'}"}
    _cli(env, "init")
    licence = json.loads(_cli(env, "--json", *BUSINESS_LICENCE))
    trust_list = home / "trust-list.json"
    _cli(env, "trust-list", "export", "-o", str(trust_list))
    root_key = json.loads(_cli(env, "--json", "trust-list", "root-key"))["root_key"]
    now = datetime.now(UTC).isoformat()  # the list was just issued: valid now
    return env, licence["token"], trust_list, root_key, now


def _time(argv: list[str], env: dict[str, str], expect: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise RuntimeError(f"{argv[:3]} exited {done.returncode}: {done.stderr.strip()[:300]}")
    return elapsed


def run(quick: bool) -> list[dict[str, Any]]:
    """Median wall time of each command over N fresh processes, N = 5 (quick) or 31."""
    n = 5 if quick else 31
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as d:
        env, token, trust_list, root_key, at = _region(Path(d))
        offline = [TRUSTLEDGER, "verify", "--offline", token, "--trust-list", str(trust_list)]
        commands = {
            "bare": ([sys.executable, "-c", "import json"], 0),
            "trustledger --help": ([TRUSTLEDGER, "--help"], 0),
            "verify --offline (--root-key, --at)": ([*offline, "--root-key", root_key, "--at", at], 0),
            "verify --offline (home key, clock)": (offline, 0),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv, expect in commands.values():  # warm the page cache and the bytecode once
            _time(argv, env, expect)
        for _ in range(n):
            for name, (argv, expect) in commands.items():
                times[name].append(_time(argv, env, expect))
    bare = statistics.median(times.pop("bare"))
    return [
        {
            "name": f"{name} start-up",
            "ours_median_s": statistics.median(samples),
            "baseline_median_s": bare,
            "ratio": statistics.median(samples) / bare,
            "notes": f"{n} runs round-robin; baseline `python -c 'import json'` (goal ratio ≤ {GOAL:g})",
        }
        for name, samples in times.items()
    ]


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
