"""The import graph follows ../shared/STYLE.md: arrows point one way, and fastapi/pyhanko/SQL stay in their places;
only `clock/` reads the wall clock or the monotonic clock."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ["clock", "ledger", "licences", "seals", "signatures", "verify_api", "anchors", "trustledger"]
ALLOWED = {  # `clock` is the bottom package: every package may import it, it imports none
    "verify_api": {"trustledger", "licences", "seals", "anchors", "ledger", "signatures", "clock"},
    "trustledger": {"verify_api", "licences", "seals", "anchors", "ledger", "signatures", "clock"},
    "licences": {"ledger", "seals", "signatures", "clock"},
    "anchors": {"ledger", "signatures", "clock"},
    "seals": {"signatures", "clock"},
    "ledger": {"signatures", "clock"},
    "signatures": {"clock"},
    "clock": set(),
}
# Reads of the machine's time: only the clock provider may make them (STYLE.md: one injected clock).
TIME_READS = {
    "datetime": {"now", "utcnow", "today"},
    "date": {"today"},
    "time": {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"},
}
TIME_SCANNED = [*PACKAGES, "tests"]
SIGNATURES_THIRD_PARTY = {"cryptography", "cbor2", "rfc8785", "qrcode"}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (type-only imports run no SQL, load no web stack)."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, p) for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def test_arrows_point_one_way() -> None:
    wrong = []
    for pkg, path in _modules():
        for name in _imports(path) & set(PACKAGES) - {pkg}:
            if name not in ALLOWED[pkg]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_nothing_imports_the_entry_points_except_themselves() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for pkg, path in _modules()
        for name in _imports(path) & {"verify_api", "trustledger"} - {pkg}
        if not (pkg == "trustledger" and name == "verify_api") and not (pkg == "verify_api" and name == "trustledger")
    ]
    assert wrong == []


def test_fastapi_pyhanko_and_sql_stay_in_their_places() -> None:
    wrong = []
    for pkg, path in _modules():
        names = _imports(path)
        rel = path.relative_to(ROOT)
        if names & {"fastapi", "starlette"} and pkg != "verify_api":
            wrong.append(f"{rel} imports fastapi")
        if "pyhanko" in names and pkg != "seals":
            wrong.append(f"{rel} imports pyhanko")
        sql_ok = path.name == "persistence.py" or path.name.startswith("store") or "migrations" in rel.parts
        if names & {"sqlalchemy", "alembic", "psycopg", "sqlite3"} and not sql_ok:
            wrong.append(f"{rel} uses SQL outside */persistence.py or */store*.py")
    assert wrong == []


def test_signatures_imports_only_stdlib_and_crypto() -> None:
    import sys

    wrong = []
    for pkg, path in _modules():
        if pkg != "signatures":
            continue
        for name in _imports(path) - {"signatures", "__future__"}:
            if name not in sys.stdlib_module_names and name not in SIGNATURES_THIRD_PARTY:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_clock_imports_only_the_standard_library() -> None:
    import sys

    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for pkg, path in _modules()
        if pkg == "clock"
        for name in _imports(path) - {"__future__"}
        if name not in sys.stdlib_module_names
    ]
    assert wrong == []


def _time_reads(source: str, where: str) -> list[str]:
    """`datetime.now`, `date.today`, `time.monotonic`, ... referenced (called or passed) anywhere in `source`, and
    `from time import monotonic` and the like."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Attribute):
            owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", None)
            if node.attr in TIME_READS.get(str(owner), set()):
                found.append(f"{where}:{node.lineno} {owner}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [
                f"{where}:{node.lineno} from time import {a.name}" for a in node.names if a.name in TIME_READS["time"]
            ]
    return found


def test_only_the_clock_package_reads_the_time() -> None:
    """Production code is handed its clock from the composition root; tests choose their instant (a FakeClock, a
    StartedClock) and wait on real things only through `tests/support.py`."""
    wrong = [
        read
        for folder in TIME_SCANNED
        if folder != "clock"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for read in _time_reads(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert wrong == []


def test_the_time_check_sees_what_it_must() -> None:
    """The check above catches each form of a read (so an empty result means something)."""
    source = (
        "import time, datetime\nfrom datetime import date\nfrom time import perf_counter, sleep\n"
        "a = datetime.datetime.now()\nb = date.today()\nc = time.monotonic\nd = datetime.utcnow()\n"
        "e = datetime.fromtimestamp(0)\ntime.sleep(0)\n"
    )
    reads = [r.split(" ", 1)[1] for r in _time_reads(source, "example.py")]
    assert sorted(reads) == sorted(
        ["from time import perf_counter", "datetime.now", "date.today", "time.monotonic", "datetime.utcnow"]
    )
