"""Run benchmark modules and print one table: `python -m bench [ledger tokens ...] [--quick] [--json PATH]`.

Every module `bench/bench_<name>.py` exposes `run(quick: bool) -> list[dict]` with the keys name, ours_median_s,
baseline_median_s, ratio and notes (optionally unit, default seconds). Options a module's `run` accepts as keywords
(`--leaves N`, `--fresh` for the ledger and the status map) are passed only to the modules that take them.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Short names of the benchmark modules in this package (bench_ledger -> ledger), sorted."""
    return sorted(
        m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(PACKAGE_DIR)]) if m.name.startswith("bench_")
    )


def _fmt(value: float, unit: str) -> str:
    if unit.startswith("s"):
        for scale, prefix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or scale == 1e-9:
                return f"{value / scale:.3g} {prefix}{unit[1:]}"
    return f"{value:,.0f} {unit}" if abs(value) >= 1000 else f"{value:.4g} {unit}"


def _unit(row: dict[str, Any]) -> str:
    if "unit" in row:
        return str(row["unit"])
    return "bytes" if "bytes" in str(row["name"]) else "s"


def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    """One table for all modules' rows."""
    header = f"{'module':8} {'name':44} {'ours':>14} {'baseline':>14} {'ratio':>7}  notes"
    print(header)
    print("-" * len(header))
    for module, r in rows:
        unit = _unit(r)
        ours, base = float(r["ours_median_s"]), float(r["baseline_median_s"])
        print(
            f"{module:8} {r['name']:44} {_fmt(ours, unit):>14} {_fmt(base, unit):>14} {float(r['ratio']):7.2f}  "
            f"{r['notes']}"
        )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the chosen modules (all by default), print the table."""
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="module", help=f"any of {', '.join(names)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--leaves", type=int, help="ledger: log size for the proof and audit rows")
    parser.add_argument("--fresh", action="store_true", help="ledger, statusmap: rebuild the cached log or map")
    parser.add_argument("--licences", type=int, help="licences, reminders: licence_index rows (query rows, scan)")
    args = parser.parse_args(argv)
    chosen = [m.removeprefix("bench_") for m in args.modules] or names
    unknown = [m for m in chosen if m not in names]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; available: {', '.join(names)}")
    options = {
        k: v
        for k, v in (("leaves", args.leaves), ("fresh", args.fresh), ("licences", args.licences))
        if v not in (None, False)
    }

    rows: list[tuple[str, dict[str, Any]]] = []
    failed = 0
    for name in chosen:
        module = importlib.import_module(f"bench.bench_{name}")
        accepted = inspect.signature(module.run).parameters
        kwargs = {k: v for k, v in options.items() if k in accepted}
        start = time.perf_counter()
        print(
            f"# running bench_{name} (quick={args.quick}{''.join(f', {k}={v}' for k, v in kwargs.items())})",
            file=sys.stderr,
        )
        try:
            rows += [(name, r) for r in module.run(args.quick, **kwargs)]
        except Exception:
            failed += 1
            traceback.print_exc()
            rows.append(
                (
                    name,
                    {"name": "FAILED", "ours_median_s": 0, "baseline_median_s": 1, "ratio": 0, "notes": "see stderr"},
                )
            )
        print(f"# bench_{name} took {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print_table(rows)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{"module": m, **r} for m, r in rows], indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
