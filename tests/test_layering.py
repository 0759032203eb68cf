"""The import graph follows ../shared/STYLE.md: arrows point one way, and fastapi/pyhanko/SQL stay in their places."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ["ledger", "licences", "seals", "signatures", "verify_api", "anchors", "trustledger"]
ALLOWED = {
    "verify_api": {"trustledger", "licences", "seals", "anchors", "ledger", "signatures"},
    "trustledger": {"verify_api", "licences", "seals", "anchors", "ledger", "signatures"},
    "licences": {"ledger", "seals", "signatures"},
    "anchors": {"ledger", "signatures"},
    "seals": {"signatures"},
    "ledger": {"signatures"},
    "signatures": set(),
}
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
