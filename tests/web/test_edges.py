"""The edges (routers and pages) parse, check, call one service and answer: they hold no
queries and never commit or roll back by hand; a page's form action goes through one helper."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"
QUERY_CALLS = {"execute", "scalar", "scalars", "get", "query", "commit", "rollback"}
QUERY_BUILDERS = {"select", "update", "delete", "insert", "text"}


def is_edge(path: Path) -> bool:
    """A router or page module."""
    return path.stem in ("router", "pages") or path.stem.endswith(("_router", "_pages"))


def edge_queries(root: Path) -> list[str]:
    """Queries, commits and rollbacks written in router and page modules."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(p for p in root.rglob("*.py") if is_edge(p)):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in QUERY_CALLS
                    and isinstance(func.value, ast.Name) and func.value.id == "db"):
                found.append((str(path.relative_to(root)), node.lineno, f"db.{func.attr}"))
            elif isinstance(func, ast.Name) and func.id in QUERY_BUILDERS:
                found.append((str(path.relative_to(root)), node.lineno, f"{func.id}()"))
    return [f"{name}:{line} {what}" for name, line, what in sorted(found)]


def test_routers_and_pages_hold_no_queries() -> None:
    assert edge_queries(SRC) == []


def test_the_check_finds_a_query_in_a_page(tmp_path: Path) -> None:
    (tmp_path / "pages.py").write_text(
        "def page(db):\n"
        "    row = db.execute(select(Thing)).scalar_one()\n"
        "    db.commit()\n")
    (tmp_path / "service.py").write_text("def f(db):\n    db.execute(select(Thing))\n")
    assert edge_queries(tmp_path) == ["pages.py:2 db.execute", "pages.py:2 select()",
                                      "pages.py:3 db.commit"]
