"""The import graph follows docs/style.md: arrows point one way, no module imports itself back through others (not even
through an import inside a function or under TYPE_CHECKING), nothing is imported by name at run time, and
fastapi/pyhanko/SQL stay in their places; only `clock/` reads the wall clock or the monotonic clock."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = [
    "clock",
    "ledger",
    "licences",
    "reminders",
    "seals",
    "signatures",
    "verification",
    "verify_api",
    "anchors",
    "trustledger",
    "demo",
    "trustlists",
]
NOT_LAYERED = {"tests", "bench"}  # packages of the repository that ship nothing
ALLOWED = {  # `clock` is the bottom package: every package may import it, it imports none
    "verify_api": {
        "trustlists",
        "verification",
        "reminders",
        "licences",
        "seals",
        "anchors",
        "ledger",
        "signatures",
        "clock",
    },
    "trustledger": {
        "verify_api",
        "trustlists",
        "verification",
        "reminders",
        "licences",
        "seals",
        "anchors",
        "ledger",
        "signatures",
        "clock",
        "demo",
    },
    "trustlists": {"licences", "seals", "ledger", "signatures", "clock"},  # trust list publishing and its store
    "verification": {"licences", "seals", "anchors", "ledger", "signatures", "clock"},
    "reminders": {"licences", "ledger", "signatures", "clock"},
    "licences": {"ledger", "seals", "signatures", "clock"},
    "anchors": {"ledger", "signatures", "clock"},
    "seals": {"ledger", "signatures", "clock"},  # the seal PKI registry records its events on the ledger
    "ledger": {"signatures", "clock"},
    "signatures": {"clock"},
    "clock": set(),
    "demo": {"licences", "seals", "ledger", "signatures", "clock"},  # demo/synthetic data; only trustledger wires it
}
# Importing by name at run time hides an arrow from this test (and from mypy): production code imports statically.
DYNAMIC_IMPORTS = {"import_module", "__import__", "find_spec", "find_loader", "load_module"}
# Reads of the machine's time: only the clock provider may make them (STYLE.md: one injected clock).
TIME_READS = {
    "datetime": {"now", "utcnow", "today"},
    "date": {"today"},
    "time": {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"},
}
TIME_SCANNED = [*PACKAGES, "tests"]
SIGNATURES_THIRD_PARTY = {"cryptography", "cbor2", "rfc8785", "qrcode"}


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST, *, type_checking: bool = False) -> Iterator[ast.AST]:
    """Every node, function bodies included; the body of `if TYPE_CHECKING:` only when `type_checking` (type-only
    imports run no SQL and load no web stack, but they are still arrows between modules)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported_names(tree: ast.AST, module: str = "", *, type_checking: bool = False) -> set[str]:
    """Dotted names of everything imported in `tree` (`from a import b` gives `a` and `a.b`; relative imports are
    resolved against `module`)."""
    names: set[str] = set()
    for node in _nodes(tree, type_checking=type_checking):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return names


def _imports(path: Path, *, type_checking: bool = False) -> set[str]:
    """Top-level packages imported by the module at `path` at run time (and for types only, if `type_checking`)."""
    tree = ast.parse(path.read_text(), str(path))
    return {name.split(".")[0] for name in _imported_names(tree, type_checking=type_checking)}


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, p) for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph(*, type_checking: bool) -> dict[str, set[str]]:
    """Module → the project modules it imports (a name that is not a module counts as its package's `__init__`)."""
    sources = {_module_name(path): path for _, path in _modules()}
    graph = {}
    for module, path in sources.items():
        names = _imported_names(ast.parse(path.read_text(), str(path)), module, type_checking=type_checking)
        graph[module] = {n for n in names if n in sources and n != module}
    return graph


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle `[a, b, ..., a]` through each strongly connected group of modules (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_cycle_in(graph, group) for group in groups)


def _cycle_in(graph: Mapping[str, set[str]], group: set[str]) -> list[str]:
    """A shortest way from the group's first module back to itself, staying inside the group."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle in {group}")


def test_every_package_is_layered() -> None:
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_LAYERED
    assert found == set(PACKAGES) == set(ALLOWED)


def test_arrows_point_one_way() -> None:
    """Between packages, type-only imports count as arrows too (third-party rules below count run-time imports)."""
    wrong = []
    for pkg, path in _modules():
        for name in _imports(path, type_checking=True) & set(PACKAGES) - {pkg}:
            if name not in ALLOWED[pkg]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_nothing_imports_the_entry_points_except_themselves() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for pkg, path in _modules()
        for name in _imports(path, type_checking=True) & {"verify_api", "trustledger"} - {pkg}
        if not (pkg == "trustledger" and name == "verify_api")
    ]
    assert wrong == []


def test_verify_api_imports_nothing_from_trustledger() -> None:
    """`verify_api` is handed its services (`verify_api.services.RegionServices`) and never imports the composition
    root, not even for types: every module pair `verify_api.*` -> `trustledger.*` is an error."""
    graph = _graph(type_checking=True)
    upward = {
        (module, imported)
        for module, imports in graph.items()
        if module.startswith("verify_api")
        for imported in imports
        if imported.startswith("trustledger")
    }
    assert sorted(upward) == []


def test_no_import_cycles() -> None:
    """No module imports itself back through others: not at run time, not inside a function, not for types."""
    assert find_cycles(_graph(type_checking=True)) == []


def test_the_cycle_check_sees_what_it_must() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    source = (
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x.typed\n"
        "def f() -> None:\n    from y import late\nfrom . import sibling\n"
    )
    tree = ast.parse(source)
    assert {"y", "y.late", "pkg.sibling"} <= _imported_names(tree, "pkg.mod")
    assert "x.typed" not in _imported_names(tree, "pkg.mod")
    assert "x.typed" in _imported_names(tree, "pkg.mod", type_checking=True)


def _dynamic_imports(source: str, where: str) -> list[str]:
    """`importlib.import_module(...)`, `__import__(...)`, `find_spec` and the like, referenced or imported anywhere."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.ImportFrom):
            found += [
                f"{where}:{node.lineno} from {node.module} import {a.name}"
                for a in node.names
                if a.name in DYNAMIC_IMPORTS
            ]
        elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC_IMPORTS:
            found.append(f"{where}:{node.lineno} {node.attr}")
        elif isinstance(node, ast.Name) and node.id in DYNAMIC_IMPORTS:
            found.append(f"{where}:{node.lineno} {node.id}")
    return found


def test_no_import_by_name_in_production_code() -> None:
    """Style: no `importlib`/`__import__` probing for optional parts; every import is a static arrow."""
    wrong = [
        found for _, path in _modules() for found in _dynamic_imports(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert wrong == []


def test_the_dynamic_import_check_sees_what_it_must() -> None:
    source = (
        "import importlib\nfrom importlib import import_module\nfrom importlib.resources import files\n"
        "a = importlib.import_module('x')\nb = __import__('y')\nc = importlib.util.find_spec('z')\n"
    )
    found = [f.split(" ", 1)[1] for f in _dynamic_imports(source, "example.py")]
    assert sorted(found) == sorted(["from importlib import import_module", "import_module", "__import__", "find_spec"])


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
    now, today = "now", "today"  # spelled apart so that text searches for clock reads do not hit this sample
    source = (
        "import time, datetime\nfrom datetime import date\nfrom time import perf_counter, sleep\n"
        f"a = datetime.datetime.{now}()\nb = date.{today}()\nc = time.monotonic\nd = datetime.utcnow()\n"
        "e = datetime.fromtimestamp(0)\ntime.sleep(0)\n"
    )
    reads = [r.split(" ", 1)[1] for r in _time_reads(source, "example.py")]
    assert sorted(reads) == sorted(
        ["from time import perf_counter", "datetime.now", "date.today", "time.monotonic", "datetime.utcnow"]
    )
